package plcdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Limits enforced by plc.directory on incoming operations.
const (
	maxBodyBytes    = 16 << 10
	maxOpCBORBytes  = 4000
	maxEntries      = 10 // rotationKeys, alsoKnownAs, services, verificationMethods
	maxAKALength    = 258
	maxIDLength     = 32
	maxServiceField = 512
	maxDIDKeyLength = 256
)

const (
	createdAtLayout   = "2006-01-02T15:04:05.000Z" // audit log timestamps
	didDocContentType = "application/did+ld+json"
)

var didPLC = regexp.MustCompile(`^did:plc:[a-z2-7]{24}$`)

// Directory is an in-memory did:plc directory; it implements http.Handler.
// The zero value is not usable: call [New].
type Directory struct {
	mu    sync.Mutex
	store *didplc.MemOpStore  // verification state, as didplc maintains it
	order map[string][]string // DID -> op CIDs in the order accepted
}

// New returns an empty directory.
func New() *Directory {
	return &Directory{
		store: didplc.NewMemOpStore(),
		order: make(map[string][]string),
	}
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP serves the plc.directory routes listed in the package documentation.
func (d *Directory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	did, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var (
		body any
		err  error
	)
	ctype := "application/json"
	switch {
	case r.Method == http.MethodPost && rest == "":
		err = d.submit(r.Context(), did, http.MaxBytesReader(w, r.Body, maxBodyBytes))
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		err = errorf(http.StatusMethodNotAllowed, "method not allowed")
	case rest == "":
		body, err = d.document(did)
		ctype = didDocContentType
	case rest == "data":
		body, err = d.data(did)
	case rest == "log":
		body, err = d.log(did)
	case rest == "log/last":
		body, err = d.last(did)
	case rest == "log/audit":
		body, err = d.audit(did)
	default:
		err = errorf(http.StatusNotFound, "not found")
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		writeJSON(w, he.status, "application/json", map[string]string{"message": he.msg})
		return
	}
	if body == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, ctype, body)
}

func writeJSON(w http.ResponseWriter, status int, ctype string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"encoding response failed"}`)
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// submit verifies one operation against the DID's history and appends it.
func (d *Directory) submit(ctx context.Context, did string, r io.Reader) error {
	if !didPLC.MatchString(did) {
		return errorf(http.StatusBadRequest, "invalid did:plc: %q", did)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return errorf(http.StatusBadRequest, "read operation: %v", err)
	}
	op, err := parseOp(raw)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	opCID := op.CID().String()

	d.mu.Lock()
	defer d.mu.Unlock()

	cids := d.order[did]
	if slices.Contains(cids, opCID) {
		return errorf(http.StatusBadRequest, "operation %s already submitted", opCID)
	}
	if prev := op.PrevCIDStr(); prev != "" {
		if len(cids) == 0 {
			return errorf(http.StatusBadRequest, "DID not registered: %s", did)
		}
		if !slices.Contains(cids, prev) {
			return errorf(http.StatusBadRequest, "prev %s is not an operation of %s", prev, did)
		}
	}
	createdAt, err := d.nextTimestamp(ctx, did)
	if err != nil {
		return err
	}
	prepared, err := didplc.VerifyOperation(ctx, d.store, did, op, createdAt)
	if err != nil {
		if prev := op.PrevCIDStr(); prev != "" && prev != cids[len(cids)-1] {
			return errorf(http.StatusBadRequest, "invalid operation: prev %s is not the head and the op may not override later ones: %v", prev, err)
		}
		return errorf(http.StatusBadRequest, "invalid operation: %v", err)
	}
	if err := d.store.CommitOperations(ctx, []*didplc.PreparedOperation{prepared}); err != nil {
		return fmt.Errorf("commit operation: %w", err)
	}
	d.order[did] = append(cids, opCID)
	return nil
}

// nextTimestamp returns now at millisecond precision (what the audit log
// shows), bumped past the DID's latest op so that ordering stays strict.
func (d *Directory) nextTimestamp(ctx context.Context, did string) (time.Time, error) {
	t := time.Now().UTC().Truncate(time.Millisecond)
	latest, err := d.store.GetLatest(ctx, did)
	if err != nil {
		return time.Time{}, fmt.Errorf("latest op of %s: %w", did, err)
	}
	if latest != nil && !t.After(latest.CreatedAt) {
		t = latest.CreatedAt.Add(time.Millisecond)
	}
	return t, nil
}

// parseOp decodes a submitted operation strictly: unknown fields would be
// dropped by re-encoding and change the CID the signature covers.
func parseOp(raw []byte) (didplc.Operation, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("invalid operation JSON: %v", err)
	}
	var op didplc.Operation
	switch head.Type {
	case "plc_operation":
		op = &didplc.RegularOp{}
	case "plc_tombstone":
		op = &didplc.TombstoneOp{}
	default:
		return nil, fmt.Errorf("unsupported operation type %q", head.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(op); err != nil {
		return nil, fmt.Errorf("invalid operation: %v", err)
	}
	if dec.More() {
		return nil, errors.New("invalid operation: trailing data")
	}
	if !op.IsSigned() {
		return nil, errors.New("operation is not signed")
	}
	if n := len(op.SignedCBORBytes()); n > maxOpCBORBytes {
		return nil, fmt.Errorf("operation too large (%d bytes, max %d in CBOR)", n, maxOpCBORBytes)
	}
	if reg, ok := op.(*didplc.RegularOp); ok {
		if err := checkRegular(reg); err != nil {
			return nil, err
		}
	}
	return op, nil
}

func checkRegular(op *didplc.RegularOp) error {
	switch {
	case len(op.RotationKeys) == 0 || len(op.RotationKeys) > maxEntries:
		return fmt.Errorf("need 1 to %d rotationKeys", maxEntries)
	case len(op.AlsoKnownAs) > maxEntries:
		return fmt.Errorf("too many alsoKnownAs entries (max %d)", maxEntries)
	case len(op.Services) > maxEntries:
		return fmt.Errorf("too many services (max %d)", maxEntries)
	case len(op.VerificationMethods) > maxEntries:
		return fmt.Errorf("too many verificationMethods (max %d)", maxEntries)
	case op.AlsoKnownAs == nil || op.Services == nil || op.VerificationMethods == nil:
		return errors.New("alsoKnownAs, services and verificationMethods are required")
	}
	for _, k := range op.RotationKeys {
		if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
			return fmt.Errorf("invalid rotation key %q: %v", k, err)
		}
	}
	seen := map[string]bool{}
	for _, aka := range op.AlsoKnownAs {
		if len(aka) > maxAKALength || seen[aka] {
			return fmt.Errorf("alsoKnownAs entry too long or duplicated: %q", aka)
		}
		seen[aka] = true
	}
	for id, s := range op.Services {
		if id == "" || len(id) > maxIDLength || len(s.Type) > maxServiceField || len(s.Endpoint) > maxServiceField {
			return fmt.Errorf("invalid service %q", id)
		}
	}
	for id, k := range op.VerificationMethods {
		if id == "" || len(id) > maxIDLength || len(k) > maxDIDKeyLength || !strings.HasPrefix(k, "did:key:z") {
			return fmt.Errorf("invalid verification method %q: %q", id, k)
		}
	}
	return nil
}

// entries returns the DID's operations in acceptance order, or a 404.
func (d *Directory) entries(did string) ([]*didplc.OpEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cids := d.order[did]
	if len(cids) == 0 {
		return nil, errorf(http.StatusNotFound, "DID not registered: %s", did)
	}
	out := make([]*didplc.OpEntry, 0, len(cids))
	for _, c := range cids {
		e, err := d.store.GetEntry(context.Background(), did, c)
		if err != nil {
			return nil, fmt.Errorf("op %s of %s: %w", c, did, err)
		}
		copied := *e
		out = append(out, &copied)
	}
	return out, nil
}

// latest returns the current head operation of did as a regular op, or a
// 404 if the DID is unknown or tombstoned.
func (d *Directory) latest(did string) (*didplc.RegularOp, error) {
	op, err := d.last(did)
	if err != nil {
		return nil, err
	}
	if op.Regular == nil { // tombstone (legacy ops are never accepted)
		return nil, errorf(http.StatusNotFound, "DID not available: %s", did)
	}
	return op.Regular, nil
}

func (d *Directory) last(did string) (*didplc.OpEnum, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	head, err := d.store.GetLatest(context.Background(), did)
	if err != nil {
		return nil, fmt.Errorf("latest op of %s: %w", did, err)
	}
	if head == nil {
		return nil, errorf(http.StatusNotFound, "DID not registered: %s", did)
	}
	return head.Op.AsOpEnum(), nil
}

type docData struct {
	DID                 string                      `json:"did"`
	VerificationMethods map[string]string           `json:"verificationMethods"`
	RotationKeys        []string                    `json:"rotationKeys"`
	AlsoKnownAs         []string                    `json:"alsoKnownAs"`
	Services            map[string]didplc.OpService `json:"services"`
}

func (d *Directory) data(did string) (*docData, error) {
	op, err := d.latest(did)
	if err != nil {
		return nil, err
	}
	return &docData{
		DID:                 did,
		VerificationMethods: op.VerificationMethods,
		RotationKeys:        op.RotationKeys,
		AlsoKnownAs:         op.AlsoKnownAs,
		Services:            op.Services,
	}, nil
}

type didDocument struct {
	Context            []string                       `json:"@context"`
	ID                 string                         `json:"id"`
	AlsoKnownAs        []string                       `json:"alsoKnownAs"`
	VerificationMethod []didplc.DocVerificationMethod `json:"verificationMethod"`
	Service            []didplc.DocService            `json:"service"`
}

// document renders the DID document the way plc.directory does: Multikey
// verification methods with absolute ids, services with relative ids.
func (d *Directory) document(did string) (*didDocument, error) {
	op, err := d.latest(did)
	if err != nil {
		return nil, err
	}
	doc := &didDocument{
		Context:            []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		ID:                 did,
		AlsoKnownAs:        append([]string{}, op.AlsoKnownAs...),
		VerificationMethod: []didplc.DocVerificationMethod{},
		Service:            []didplc.DocService{},
	}
	for _, id := range sortedKeys(op.VerificationMethods) {
		key := op.VerificationMethods[id]
		if ctx := keyContext(key); ctx != "" && !slices.Contains(doc.Context, ctx) {
			doc.Context = append(doc.Context, ctx)
		}
		doc.VerificationMethod = append(doc.VerificationMethod, didplc.DocVerificationMethod{
			ID:                 did + "#" + id,
			Type:               "Multikey",
			Controller:         did,
			PublicKeyMultibase: strings.TrimPrefix(key, "did:key:"),
		})
	}
	for _, id := range sortedKeys(op.Services) {
		s := op.Services[id]
		doc.Service = append(doc.Service, didplc.DocService{ID: "#" + id, Type: s.Type, ServiceEndpoint: s.Endpoint})
	}
	return doc, nil
}

// keyContext is the JSON-LD context plc.directory adds for a key's curve.
func keyContext(didKey string) string {
	pub, err := atcrypto.ParsePublicDIDKey(didKey)
	if err != nil {
		return ""
	}
	switch pub.(type) {
	case *atcrypto.PublicKeyK256:
		return "https://w3id.org/security/suites/secp256k1-2019/v1"
	case *atcrypto.PublicKeyP256:
		return "https://w3id.org/security/suites/ecdsa-2019/v1"
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// log returns the active (non-nullified) operations, oldest first.
func (d *Directory) log(did string) ([]*didplc.OpEnum, error) {
	entries, err := d.entries(did)
	if err != nil {
		return nil, err
	}
	ops := []*didplc.OpEnum{}
	for _, e := range entries {
		if !e.Nullified {
			ops = append(ops, e.Op.AsOpEnum())
		}
	}
	return ops, nil
}

// audit returns every operation with its CID, nullification and timestamp.
func (d *Directory) audit(did string) ([]*didplc.LogEntry, error) {
	entries, err := d.entries(did)
	if err != nil {
		return nil, err
	}
	out := make([]*didplc.LogEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, &didplc.LogEntry{
			DID:       did,
			Operation: *e.Op.AsOpEnum(),
			CID:       e.OpCid,
			Nullified: e.Nullified,
			CreatedAt: e.CreatedAt.UTC().Format(createdAtLayout),
		})
	}
	return out, nil
}
