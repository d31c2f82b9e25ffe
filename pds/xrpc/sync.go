package xrpc

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/apierr"
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
	s.handle("com.atproto.sync.subscribeRepos", http.MethodGet, authNone, func(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
		s.hub.ServeHTTP(w, r)
		return nil
	})
}

func didParam(r *http.Request) (string, error) {
	did := r.URL.Query().Get("did")
	if !strings.HasPrefix(did, "did:") {
		return "", apierr.Invalid("missing or invalid did parameter")
	}
	return did, nil
}

// activeRepo checks a repo exists and is served.
func (s *Server) activeRepo(r *http.Request, did string) error {
	st, err := s.e.RepoStatus(r.Context(), did)
	if err != nil {
		return err
	}
	if !st.Active {
		return apierr.New(http.StatusBadRequest, "RepoDeactivated", "repo %s is %s", did, st.Status)
	}
	return nil
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	return s.e.ExportRepo(r.Context(), did, r.URL.Query().Get("since"), w, nil)
}

func (s *Server) getLatestCommit(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	m, err := s.e.LatestCommit(r.Context(), did)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"cid": m.CID, "rev": m.Rev})
	return nil
}

func (s *Server) syncGetRecord(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	q := r.URL.Query()
	col, rkey := q.Get("collection"), q.Get("rkey")
	if col == "" || rkey == "" {
		return apierr.Invalid("collection and rkey are required")
	}
	if _, err := s.e.GetRecord(r.Context(), did, col, rkey, ""); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	return s.e.RecordProof(r.Context(), did, col, rkey, w)
}

func (s *Server) getBlocks(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	cids := r.URL.Query()["cids"]
	if len(cids) == 0 {
		return apierr.Invalid("cids parameter is required")
	}
	if len(cids) > 1000 {
		return apierr.Invalid("at most 1000 cids per request")
	}
	// Write to a buffer first so a missing block is an error, not a cut CAR.
	var buf strings.Builder
	if err := s.e.GetBlocks(r.Context(), did, cids, &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.ipld.car")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err = w.Write([]byte(buf.String()))
	return err
}

func (s *Server) getRepoStatus(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	st, err := s.e.RepoStatus(r.Context(), did)
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

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	limit, err := intParam(r, "limit", 500, 1, 1000)
	if err != nil {
		return err
	}
	repos, cursor, err := s.e.ListRepos(r.Context(), r.URL.Query().Get("cursor"), limit)
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

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	did, err := didParam(r)
	if err != nil {
		return err
	}
	if err := s.activeRepo(r, did); err != nil {
		return err
	}
	f, info, err := s.e.OpenBlob(r.Context(), did, r.URL.Query().Get("cid"))
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", info.MimeType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", info.CreatedAt, f)
	return nil
}

func (s *Server) listBlobs(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
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
	cids, cursor, err := s.e.ListBlobs(r.Context(), did, q.Get("since"), q.Get("cursor"), limit)
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
