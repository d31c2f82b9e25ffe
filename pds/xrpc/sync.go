package xrpc

import (
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/ipfs/go-cid"
	"net/http"
	"strconv"
	"strings"
)

func (s *Server) registerSync() {
	s.handle("com.atproto.sync.getRepo", http.MethodGet, authNone, s.getRepo)
	s.handle("com.atproto.sync.getLatestCommit", http.MethodGet, authNone, s.getLatestCommit)
	s.handle("com.atproto.sync.getRecord", http.MethodGet, authNone, s.syncGetRecord)
	s.handle("com.atproto.sync.getBlocks", http.MethodGet, authNone, s.getBlocks)
	s.handle("com.atproto.sync.getRepoStatus", http.MethodGet, authNone, s.getRepoStatus)
	s.handle("com.atproto.sync.listRepos", http.MethodGet, authNone, s.listRepos)
	s.handle("com.atproto.sync.getBlob", http.MethodGet, authNone, s.getBlob)
	s.handle("com.atproto.sync.listBlobs", http.MethodGet, authNone, s.listBlobs)
	s.handle("com.atproto.sync.subscribeRepos", http.MethodGet, authNone, func(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
		s.hub.ServeHTTP(w, r)
		return nil
	})
}

func didParam(r *http.Request) (syntax.DID, error) {
	return parseDID(r.URL.Query().Get("did"), "did")
}

// activeRepo checks a repo exists and is served.
func (s *Server) activeRepo(r *http.Request, did syntax.DID) error {
	st, err := s.e.Repos.Status(r.Context(), did)
	if err != nil {
		return err
	}
	if !st.Active {
		return errs.New(errs.ErrRepoDeactivated, "repo %s is %s", did, st.Status)
	}
	return nil
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	return s.e.Repos.ExportRepo(r.Context(), did, r.URL.Query().Get("since"), newIdleWriter(w, downloadIdle), nil)
}

func (s *Server) getLatestCommit(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	m, err := s.e.Repos.LatestCommit(r.Context(), did)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"cid": m.CID, "rev": m.Rev})
	return nil
}

func (s *Server) syncGetRecord(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("collection") == "" || q.Get("rkey") == "" {
		return errs.Invalid("collection and rkey are required")
	}
	col, err := parseNSID(q.Get("collection"), "collection")
	if err != nil {
		return err
	}
	rkey, err := parseRkey(q.Get("rkey"))
	if err != nil {
		return err
	}
	if _, err := s.e.Repos.GetRecord(r.Context(), did, col, rkey, cid.Undef); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	return s.e.Repos.RecordProof(r.Context(), did, col, rkey, w)
}

func (s *Server) getBlocks(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	raw := r.URL.Query()["cids"]
	if len(raw) == 0 {
		return errs.Invalid("cids parameter is required")
	}
	if len(raw) > 1000 {
		return errs.Invalid("at most 1000 cids per request")
	}
	cids := make([]cid.Cid, len(raw))
	for i, s := range raw {
		if cids[i], err = parseCID(s, "block"); err != nil {
			return err
		}
	}
	// Write to a buffer first so a missing block is an error, not a cut CAR.
	var buf strings.Builder
	if err := s.e.Repos.GetBlocks(r.Context(), did, cids, &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err = w.Write([]byte(buf.String()))
	return err
}

func (s *Server) getRepoStatus(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	st, err := s.e.Repos.Status(r.Context(), did)
	if err != nil {
		return err
	}
	out := map[string]any{"did": st.DID, "active": st.Active}
	if st.Active {
		out["rev"] = st.Rev
	} else {
		out["status"] = st.Status
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	limit, err := intParam(r, "limit", 500, 1, 1000)
	if err != nil {
		return err
	}
	repos, cursor, err := s.e.Repos.ListRepos(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(repos))
	for _, st := range repos {
		m := map[string]any{"did": st.DID, "head": st.Head, "rev": st.Rev, "active": st.Active}
		if !st.Active {
			m["status"] = st.Status
		}
		out = append(out, m)
	}
	resp := map[string]any{"repos": out}
	if cursor != "" {
		resp["cursor"] = cursor
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	c, err := parseCID(r.URL.Query().Get("cid"), "blob")
	if err != nil {
		return err
	}
	f, info, err := s.e.Blobs.Open(r.Context(), did, c)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // opened read-only: nothing to lose
	h := w.Header()
	h.Set("Content-Type", info.MimeType)
	// A blob is served as a download, never rendered in this origin (which
	// also serves sign-in pages): attachment, no sniffing, a sandbox.
	h.Set("Content-Disposition", `attachment; filename="`+c.String()+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", info.CreatedAt, f)
	return nil
}

func (s *Server) listBlobs(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 500, 1, 1000)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	cids, cursor, err := s.e.Blobs.List(r.Context(), did, q.Get("since"), q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	if cids == nil {
		cids = []string{}
	}
	resp := map[string]any{"cids": cids}
	if cursor != "" {
		resp["cursor"] = cursor
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
