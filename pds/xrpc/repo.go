package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/ipfs/go-cid"
	"net/http"
)

func (s *Server) registerRepo() {
	s.handle("com.atproto.repo.createRecord", http.MethodPost, authAccess, s.createRecord)
	s.handle("com.atproto.repo.putRecord", http.MethodPost, authAccess, s.putRecord)
	s.handle("com.atproto.repo.deleteRecord", http.MethodPost, authAccess, s.deleteRecord)
	s.handle("com.atproto.repo.applyWrites", http.MethodPost, authAccess, s.applyWrites)
	s.handle("com.atproto.repo.getRecord", http.MethodGet, authNone, s.getRecord)
	s.handle("com.atproto.repo.listRecords", http.MethodGet, authNone, s.listRecords)
	s.handle("com.atproto.repo.describeRepo", http.MethodGet, authNone, s.describeRepo)
	s.handle("com.atproto.repo.uploadBlob", http.MethodPost, authAccessOrService, s.uploadBlob)
	s.handle("com.atproto.repo.importRepo", http.MethodPost, authFull, s.importRepo)
	s.handle("com.atproto.repo.listMissingBlobs", http.MethodGet, authAccess, s.listMissingBlobs)
}

// optionalCID distinguishes an absent field (no check) from null (must not
// exist) and a CID string.
type optionalCID struct {
	set bool
	val *string
}

func (o *optionalCID) UnmarshalJSON(b []byte) error {
	o.set = true
	if bytes.Equal(b, []byte("null")) {
		empty := ""
		o.val = &empty
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	o.val = &s
	return nil
}

// swap is the check the field asks for: nil = none, cid.Undef = the record
// must not exist, else its expected CID.
func (o optionalCID) swap(name string) (*cid.Cid, error) {
	if !o.set {
		return nil, nil
	}
	if *o.val == "" {
		u := cid.Undef
		return &u, nil
	}
	c, err := parseCID(*o.val, name)
	return &c, err
}

// swapCommit parses an optional swapCommit CID.
func swapCommit(s string) (*cid.Cid, error) {
	if s == "" {
		return nil, nil
	}
	c, err := parseCID(s, "swapCommit")
	return &c, err
}

// parseWrite parses one write's collection and rkey (optional for create).
func (s *Server) parseWrite(ctx context.Context, action actorrepo.Action, collection, rkey string) (repos.Write, error) {
	w := repos.Write{Action: action}
	if err := checkWrite(ctx, collection, string(action)); err != nil {
		return w, err
	}
	var err error
	if w.Collection, err = s.e.Repos.ParseCollection(collection); err != nil {
		return w, err
	}
	if rkey != "" || action != actorrepo.Create {
		if rkey == "" {
			return w, errs.Invalid("%s needs an rkey", action)
		}
		if w.Rkey, err = parseRkey(rkey); err != nil {
			return w, err
		}
	}
	return w, nil
}

// recordJSON checks that a record was given; the engine decodes it (as
// atproto data) while it prepares the batch.
func recordJSON(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errs.New(errs.ErrInvalidRecord, "record is required")
	}
	return raw, nil
}

func commitJSON(m repos.CommitMeta) map[string]any {
	return map[string]any{"cid": m.CID, "rev": m.Rev}
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	return s.writeRecord(w, r, c, actorrepo.Create)
}

// putRecord creates or replaces the record at an rkey.
func (s *Server) putRecord(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	return s.writeRecord(w, r, c, actorrepo.Update)
}

// writeRecord serves createRecord (action "create") and putRecord
// ("update"; swapRecord and an rkey apply only there).
func (s *Server) writeRecord(w http.ResponseWriter, r *http.Request, c *accounts.Caller, action actorrepo.Action) error {
	var in struct {
		Repo       string          `json:"repo"`
		Collection string          `json:"collection"`
		Rkey       string          `json:"rkey"`
		Validate   *bool           `json:"validate"`
		Record     json.RawMessage `json:"record"`
		SwapRecord optionalCID     `json:"swapRecord"`
		SwapCommit string          `json:"swapCommit"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	did, err := s.requireOwner(r.Context(), c, in.Repo)
	if err != nil {
		return err
	}
	if action == actorrepo.Update && in.Rkey == "" {
		return errs.Invalid("rkey is required")
	}
	write, err := s.parseWrite(r.Context(), action, in.Collection, in.Rkey)
	if err != nil {
		return err
	}
	if action == actorrepo.Update {
		if write.SwapRecord, err = in.SwapRecord.swap("swapRecord"); err != nil {
			return err
		}
	}
	if write.RecordJSON, err = recordJSON(in.Record); err != nil {
		return err
	}
	sc, err := swapCommit(in.SwapCommit)
	if err != nil {
		return err
	}
	res, err := s.e.Repos.ApplyWrites(r.Context(), did, []repos.Write{write}, repos.WriteOptions{Validate: in.Validate, SwapCommit: sc})
	if err != nil {
		return err
	}
	wr := res.Results[0]
	writeJSON(w, http.StatusOK, map[string]any{"uri": wr.URI, "cid": wr.CID, "commit": commitJSON(res.Commit), "validationStatus": wr.ValidationStatus})
	return nil
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Repo       string      `json:"repo"`
		Collection string      `json:"collection"`
		Rkey       string      `json:"rkey"`
		SwapRecord optionalCID `json:"swapRecord"`
		SwapCommit string      `json:"swapCommit"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	did, err := s.requireOwner(r.Context(), c, in.Repo)
	if err != nil {
		return err
	}
	write, err := s.parseWrite(r.Context(), actorrepo.Delete, in.Collection, in.Rkey)
	if err != nil {
		return err
	}
	if !in.SwapRecord.set {
		// Deleting a record that is not there is a no-op, as in the reference PDS.
		if _, err := s.e.Repos.GetRecord(r.Context(), did, write.Collection, write.Rkey, cid.Undef); errors.Is(err, errs.ErrRecordNotFound) {
			writeJSON(w, http.StatusOK, map[string]any{})
			return nil
		}
	}
	if write.SwapRecord, err = in.SwapRecord.swap("swapRecord"); err != nil {
		return err
	}
	sc, err := swapCommit(in.SwapCommit)
	if err != nil {
		return err
	}
	res, err := s.e.Repos.ApplyWrites(r.Context(), did, []repos.Write{write}, repos.WriteOptions{SwapCommit: sc})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"commit": commitJSON(res.Commit)})
	return nil
}

func (s *Server) applyWrites(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Repo     string `json:"repo"`
		Validate *bool  `json:"validate"`
		Writes   []struct {
			Type       string          `json:"$type"`
			Collection string          `json:"collection"`
			Rkey       string          `json:"rkey"`
			Value      json.RawMessage `json:"value"`
		} `json:"writes"`
		SwapCommit string `json:"swapCommit"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	points := 0
	for _, wr := range in.Writes {
		switch wr.Type {
		case "com.atproto.repo.applyWrites#create":
			points += 3
		case "com.atproto.repo.applyWrites#update":
			points += 2
		default:
			points++
		}
	}
	if err := s.limit(w, r, points, writeRules...); err != nil {
		return err
	}
	did, err := s.requireOwner(r.Context(), c, in.Repo)
	if err != nil {
		return err
	}
	writes := make([]repos.Write, 0, len(in.Writes))
	for i, wr := range in.Writes {
		var action actorrepo.Action
		switch wr.Type {
		case "com.atproto.repo.applyWrites#create":
			action = actorrepo.Create
		case "com.atproto.repo.applyWrites#update":
			action = actorrepo.Update
		case "com.atproto.repo.applyWrites#delete":
			action = actorrepo.Delete
		default:
			return errs.Invalid("write %d: unknown $type %q", i, wr.Type)
		}
		pw, err := s.parseWrite(r.Context(), action, wr.Collection, wr.Rkey)
		if err != nil {
			if len(in.Writes) > 1 {
				err = errs.Prefix(err, "write %d: ", i)
			}
			return err
		}
		if action != actorrepo.Delete {
			rec, err := recordJSON(wr.Value)
			if err != nil {
				return err
			}
			pw.RecordJSON = rec
		}
		writes = append(writes, pw)
	}
	sc, err := swapCommit(in.SwapCommit)
	if err != nil {
		return err
	}
	res, err := s.e.Repos.ApplyWrites(r.Context(), did, writes, repos.WriteOptions{Validate: in.Validate, SwapCommit: sc})
	if err != nil {
		return err
	}
	out := applyWritesOutput{Commit: commitJSON(res.Commit), Results: make([]applyWritesResult, 0, len(res.Results))}
	for _, wr := range res.Results {
		r := applyWritesResult{Type: "com.atproto.repo.applyWrites#" + wr.Action + "Result"}
		if wr.Action != "delete" {
			r.URI, r.CID, r.ValidationStatus = wr.URI, wr.CID, wr.ValidationStatus
		}
		out.Results = append(out.Results, r)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// applyWritesOutput is com.atproto.repo.applyWrites#output; a struct rather
// than maps because a 200-write answer is encoded on every big batch.
type applyWritesOutput struct {
	Commit  map[string]any      `json:"commit"`
	Results []applyWritesResult `json:"results"`
}

// applyWritesResult is a #createResult, #updateResult or #deleteResult (which
// has only its $type).
type applyWritesResult struct {
	Type             string `json:"$type"`
	URI              string `json:"uri,omitempty"`
	CID              string `json:"cid,omitempty"`
	ValidationStatus string `json:"validationStatus,omitempty"`
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	q := r.URL.Query()
	did, err := s.resolveRepo(r.Context(), q.Get("repo"))
	if err != nil {
		return err
	}
	col, err := parseNSID(q.Get("collection"), "collection")
	if err != nil {
		return err
	}
	rkey, err := parseRkey(q.Get("rkey"))
	if err != nil {
		return err
	}
	want := cid.Undef
	if cs := q.Get("cid"); cs != "" {
		if want, err = parseCID(cs, "cid"); err != nil {
			return err
		}
	}
	rec, err := s.e.Repos.GetRecord(r.Context(), did, col, rkey, want)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"uri": rec.URI, "cid": rec.CID, "value": rec.Value})
	return nil
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 50, 1, 100)
	if err != nil {
		return err
	}
	rev, err := boolParam(r, "reverse")
	if err != nil {
		return err
	}
	did, err := s.resolveRepo(r.Context(), q.Get("repo"))
	if err != nil {
		return err
	}
	col, err := parseNSID(q.Get("collection"), "collection")
	if err != nil {
		return err
	}
	recs, cursor, err := s.e.Repos.ListRecords(r.Context(), repos.ListRecordsQuery{Repo: did, Collection: col, Limit: limit, Cursor: q.Get("cursor"), Reverse: rev})
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		out = append(out, map[string]any{"uri": rec.URI, "cid": rec.CID, "value": rec.Value})
	}
	resp := map[string]any{"records": out}
	if cursor != "" {
		resp["cursor"] = cursor
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) describeRepo(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	acc, err := s.account(r.Context(), r.URL.Query().Get("repo"))
	if err != nil {
		return err
	}
	doc, err := s.e.Identity.DIDDocument(r.Context(), acc.DID)
	if err != nil {
		return err
	}
	cols, err := s.e.Repos.Collections(r.Context(), acc.DID)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cols))
	for _, c := range cols {
		names = append(names, c.Collection)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"handle": acc.Handle, "did": acc.DID, "didDoc": doc, "collections": names,
		"handleIsCorrect": s.e.Identity.HandleIsCorrect(r.Context(), acc.DID, acc.Handle),
	})
	return nil
}

func (s *Server) uploadBlob(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	limit := s.e.Blobs.Limit()
	if r.ContentLength > limit {
		return errs.New(errs.ErrBlobTooLarge, "blob is larger than the %d byte limit", limit)
	}
	if err := checkBlob(r.Context(), r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, limit+1)
	info, err := s.e.Blobs.Upload(r.Context(), c.DID, r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]any{"$link": info.CID}, "mimeType": info.MimeType, "size": info.Size,
	}})
	return nil
}

func (s *Server) importRepo(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	body := http.MaxBytesReader(w, r.Body, repos.MaxImportBytes+(64<<20))
	if _, err := s.e.Repos.Import(r.Context(), c.DID, body, r.ContentLength, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) listMissingBlobs(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	limit, err := intParam(r, "limit", 500, 1, 1000)
	if err != nil {
		return err
	}
	missing, cursor, err := s.e.Blobs.ListMissing(r.Context(), c.DID, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(missing))
	for _, m := range missing {
		out = append(out, map[string]any{"cid": m.CID, "recordUri": m.RecordURI})
	}
	resp := map[string]any{"blobs": out}
	if cursor != "" {
		resp["cursor"] = cursor
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
