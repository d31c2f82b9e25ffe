package lexval

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/bluesky-social/indigo/atproto/lexicon"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// lexiconFiles holds the Lexicon JSON schema files (see
// lexicons/PROVENANCE.txt). It is read-only.
//
//go:embed lexicons
var lexiconFiles embed.FS

// Status is the validation status reported back to clients in the
// validationStatus field of com.atproto.repo.createRecord and friends.
type Status string

const (
	// StatusValid means the record was validated against a known Lexicon.
	StatusValid Status = "valid"
	// StatusUnknown means the record was not validated, either because its
	// Lexicon is not known or because validation was skipped.
	StatusUnknown Status = "unknown"
)

// Mode selects how strictly a record is validated.
type Mode int

const (
	// ModeDefault validates the record if its Lexicon is known; a record of
	// an unknown collection is accepted with StatusUnknown. This is the
	// behaviour when the XRPC "validate" parameter is not set.
	ModeDefault Mode = iota
	// ModeRequire validates the record and fails if its Lexicon is not known
	// ("validate": true).
	ModeRequire
	// ModeSkip does no validation at all and reports StatusUnknown
	// ("validate": false). Like the reference PDS, it does not check $type
	// either.
	ModeSkip
)

// String returns the name of the mode.
func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default"
	case ModeRequire:
		return "require"
	case ModeSkip:
		return "skip"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// ModeFor maps the optional boolean XRPC "validate" parameter to a Mode:
// nil -> ModeDefault, true -> ModeRequire, false -> ModeSkip.
func ModeFor(validate *bool) Mode {
	switch {
	case validate == nil:
		return ModeDefault
	case *validate:
		return ModeRequire
	default:
		return ModeSkip
	}
}

// Sentinel errors. Every error returned by [Validator.Validate] matches
// ErrInvalidRecord with errors.Is; an unknown Lexicon in ModeRequire also
// matches ErrUnknownLexicon.
var (
	ErrInvalidRecord  = errors.New("invalid record")
	ErrUnknownLexicon = errors.New("unknown lexicon")
)

// validationError carries a user-facing message and matches the sentinel
// errors above.
type validationError struct {
	msg     string
	unknown bool  // lexicon not found (ModeRequire)
	cause   error // underlying indigo error, if any
}

func (e *validationError) Error() string { return e.msg }

func (e *validationError) Unwrap() error { return e.cause }

func (e *validationError) Is(target error) bool {
	return target == ErrInvalidRecord || (e.unknown && target == ErrUnknownLexicon)
}

func invalidf(cause error, format string, args ...any) error {
	return &validationError{msg: fmt.Sprintf(format, args...), cause: cause}
}

// flags are the indigo validation flags used for writes. Zero means: legacy
// blobs are rejected (the reference PDS refuses "Legacy blob ref" on every
// write), datetimes are parsed strictly (the reference PDS re-checks
// createdAt with ensureValidDatetime), and data in open unions whose type is
// not in the catalog is accepted without validation (as the reference PDS
// does).
const flags lexicon.ValidateFlags = 0

// Validator validates records against a fixed catalog of Lexicon schemas. It
// is immutable after New and safe for concurrent use.
type Validator struct {
	cat *lexicon.BaseCatalog
}

// New returns a Validator loaded with the embedded com.atproto.* and
// app.bsky.* Lexicons.
func New() (*Validator, error) {
	sub, err := fs.Sub(lexiconFiles, "lexicons")
	if err != nil {
		return nil, fmt.Errorf("lexval: %w", err)
	}
	return newFromFS(sub)
}

// newFromFS builds a Validator from all .json files in fsys.
func newFromFS(fsys fs.FS) (*Validator, error) {
	cat := lexicon.NewBaseCatalog()
	n := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".json" {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var sf lexicon.SchemaFile
		if err := json.Unmarshal(b, &sf); err != nil {
			return fmt.Errorf("parsing lexicon %s: %w", p, err)
		}
		if err := cat.AddSchemaFile(sf); err != nil {
			return fmt.Errorf("loading lexicon %s (%s): %w", p, sf.ID, err)
		}
		n++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lexval: %w", err)
	}
	if n == 0 {
		return nil, errors.New("lexval: no lexicon files found")
	}
	return &Validator{cat: cat}, nil
}

// Catalog returns the schema catalog, for callers that need to resolve
// Lexicon definitions themselves. It must not be modified.
func (v *Validator) Catalog() lexicon.Catalog { return v.cat }

// recordSchema looks up the record schema for a collection. found is false
// if there is no main definition for the NSID; err is set if there is one
// but it is not a record.
func (v *Validator) recordSchema(collection string) (found bool, err error) {
	def, rerr := v.cat.Resolve(collection)
	if rerr != nil {
		// BaseCatalog.Resolve only fails when the definition is missing.
		return false, nil
	}
	if _, ok := def.Def.(lexicon.SchemaRecord); !ok {
		return true, invalidf(nil, "Lexicon %s is not a record type", collection)
	}
	return true, nil
}

// Validate checks record (decoded atproto data, as produced by indigo
// atdata.UnmarshalJSON or atdata.UnmarshalCBOR) for collection.
//
// The record's $type must be present and equal collection; callers that
// follow the reference PDS fill in a missing $type with the collection
// before calling Validate (the stored record, and so its CID, must include
// it). Validate does not modify record.
//
// In ModeDefault a record of a collection without a known Lexicon yields
// (StatusUnknown, nil); in ModeRequire it is an error matching
// ErrUnknownLexicon. ModeSkip always yields (StatusUnknown, nil).
// All errors (except for an out-of-range mode, a programming error) match
// ErrInvalidRecord and have messages suitable for an XRPC InvalidRecord
// response, e.g. "Invalid app.bsky.feed.post record: Record/text: must not be
// longer than 300 graphemes (is 301)".
func (v *Validator) Validate(collection string, record map[string]any, mode Mode) (Status, error) {
	switch mode {
	case ModeSkip:
		return StatusUnknown, nil
	case ModeDefault, ModeRequire:
	default:
		return "", fmt.Errorf("lexval: invalid validation mode %d", int(mode))
	}

	// A collection with a schema in the catalog was an NSID when the
	// catalog loaded it; only other names need the (regexp) parse.
	if _, err := v.cat.Resolve(collection); err != nil || strings.Contains(collection, "#") {
		if _, err := syntax.ParseNSID(collection); err != nil {
			return "", invalidf(err, "Invalid collection %q: %v", collection, err)
		}
	}
	if record == nil {
		return "", invalidf(nil, "Record must be an object")
	}
	rawType, ok := record["$type"]
	if !ok {
		return "", invalidf(nil, "No $type provided")
	}
	typ, ok := rawType.(string)
	if !ok {
		return "", invalidf(nil, "Invalid $type: must be a string")
	}
	if typ != collection {
		return "", invalidf(nil, "Invalid $type: expected %s, got %s", collection, typ)
	}

	found, err := v.recordSchema(collection)
	if err != nil {
		return "", err
	}
	if !found {
		if mode == ModeRequire {
			return "", &validationError{
				msg:     fmt.Sprintf("Lexicon not found: lex:%s", collection),
				unknown: true,
			}
		}
		return StatusUnknown, nil
	}

	if err := lexicon.ValidateRecord(v.cat, record, collection, flags); err != nil {
		if p := (explainer{v.cat}).explain(collection, record); p != nil {
			return "", invalidf(err, "Invalid %s record: %s", collection, p)
		}
		return "", invalidf(err, "Invalid %s record: %s", collection, describe(err))
	}
	// The reference PDS re-checks a top-level createdAt string strictly even
	// where the schema does not declare it a datetime.
	if s, ok := record["createdAt"].(string); ok {
		if _, err := syntax.ParseDatetime(s); err != nil {
			return "", invalidf(err, "Invalid %s record: createdAt must be a valid atproto datetime (both RFC-3339 and ISO-8601)", collection)
		}
	}
	return StatusValid, nil
}

// describe turns an indigo validation error into a message for users.
func describe(err error) string {
	msg := err.Error()
	switch {
	case msg == "legacy blobs not allowed":
		return "legacy blob references ({cid, mimeType}) are not allowed; use {$type: \"blob\", ref, mimeType, size}"
	case strings.HasPrefix(msg, "schema not found in catalog: "):
		return "references unknown lexicon definition " + strings.TrimPrefix(msg, "schema not found in catalog: ")
	}
	return msg
}

// CheckRecordKey checks rkey against the record key type that collection's
// Lexicon declares: "tid", "nsid", "literal:<value>" or "any". A collection
// without a known record Lexicon accepts any (already valid) record key, as
// does a key type this version does not know. Errors match ErrInvalidRecord
// and say which key the collection takes.
func (v *Validator) CheckRecordKey(collection, rkey string) error {
	def, err := v.cat.Resolve(collection)
	if err != nil {
		return nil
	}
	rec, ok := def.Def.(lexicon.SchemaRecord)
	if !ok {
		return nil
	}
	switch key := rec.Key; {
	case key == "tid":
		if _, err := syntax.ParseTID(rkey); err != nil {
			return invalidf(err, "Invalid record key %q: %s records take a TID as key", rkey, collection)
		}
	case key == "nsid":
		if _, err := syntax.ParseNSID(rkey); err != nil {
			return invalidf(err, "Invalid record key %q: %s records take an NSID as key", rkey, collection)
		}
	case strings.HasPrefix(key, "literal:"):
		if want := strings.TrimPrefix(key, "literal:"); rkey != want {
			return invalidf(nil, "Invalid record key %q: %s records take the key %q", rkey, collection, want)
		}
	}
	return nil
}
