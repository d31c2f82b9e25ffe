package lexval

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/lexicon"
	"github.com/rivo/uniseg"
)

// indigo's lexicon.ValidateRecord decides whether a record is valid, but its
// errors do not say where in the record the problem is ("expected a string").
// After it has rejected a record, explain walks the record alongside its
// schema, the same way indigo does, to find the first offending field and
// describe it for the user, e.g. "Record/embed/images/0/alt: must be a
// string". Leaf values are checked with indigo's own per-type Validate
// methods. If the walk finds nothing (it should not happen), the caller falls
// back to indigo's message.

// maxExplainDepth bounds the walk; atproto data is at most 32 levels deep.
const maxExplainDepth = 64

type explainer struct {
	cat lexicon.Catalog
}

// problem is a located validation failure.
type problem struct {
	path string // "Record/a/0/b"
	msg  string
}

func (p *problem) String() string { return p.path + ": " + p.msg }

// explain returns the first problem found in record, or nil.
func (e explainer) explain(collection string, record map[string]any) *problem {
	def, err := e.cat.Resolve(collection)
	if err != nil {
		return nil
	}
	rec, ok := def.Def.(lexicon.SchemaRecord)
	if !ok {
		return nil
	}
	return e.object(collection, rec.Record, record, "Record", 0)
}

// baseOf returns the NSID part of a schema ID ("app.bsky.feed.post#main").
func baseOf(id string) string {
	if i := strings.IndexByte(id, '#'); i >= 0 {
		return id[:i]
	}
	return id
}

// fullRef expands a possibly-local reference ("#replyRef") against base.
func fullRef(base, ref string) string {
	if strings.HasPrefix(ref, "#") {
		return base + ref
	}
	return ref
}

func (e explainer) object(base string, s lexicon.SchemaObject, obj map[string]any, path string, depth int) *problem {
	for _, k := range s.Required {
		if _, ok := obj[k]; !ok {
			return &problem{path, fmt.Sprintf("must have the property %q", k)}
		}
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		val, ok := obj[k]
		if !ok || (val == nil && s.IsNullable(k)) {
			continue
		}
		if p := e.data(base, s.Properties[k].Inner, val, path+"/"+k, depth+1); p != nil {
			return p
		}
	}
	return nil
}

func (e explainer) data(base string, def any, d any, path string, depth int) *problem {
	if depth > maxExplainDepth {
		return nil
	}
	if d == nil {
		// Only reached for properties that are not nullable, and for
		// array items.
		if _, isUnion := def.(lexicon.SchemaUnion); !isUnion {
			return &problem{path, "must not be null"}
		}
	}
	switch s := def.(type) {
	case lexicon.SchemaObject:
		obj, ok := d.(map[string]any)
		if !ok {
			return &problem{path, "must be an object, not " + kind(d)}
		}
		return e.object(base, s, obj, path, depth)
	case lexicon.SchemaArray:
		arr, ok := d.([]any)
		if !ok {
			return &problem{path, "must be an array, not " + kind(d)}
		}
		if s.MinLength != nil && len(arr) < *s.MinLength {
			return &problem{path, fmt.Sprintf("must not have fewer than %d elements (has %d)", *s.MinLength, len(arr))}
		}
		if s.MaxLength != nil && len(arr) > *s.MaxLength {
			return &problem{path, fmt.Sprintf("must not have more than %d elements (has %d)", *s.MaxLength, len(arr))}
		}
		for i, item := range arr {
			if p := e.data(base, s.Items.Inner, item, path+"/"+strconv.Itoa(i), depth+1); p != nil {
				return p
			}
		}
		return nil
	case lexicon.SchemaRef:
		ref := fullRef(base, s.Ref)
		next, err := e.cat.Resolve(ref)
		if err != nil {
			return &problem{path, "references unknown lexicon definition " + ref}
		}
		return e.data(baseOf(next.ID), next.Def, d, path, depth+1)
	case lexicon.SchemaUnion:
		return e.union(base, s, d, path, depth)
	case lexicon.SchemaString:
		if err := s.Validate(d, flags); err != nil {
			return &problem{path, stringProblem(s, d, err)}
		}
	case lexicon.SchemaInteger:
		if err := s.Validate(d); err != nil {
			return &problem{path, integerProblem(s, d, err)}
		}
	case lexicon.SchemaBoolean:
		if err := s.Validate(d); err != nil {
			return &problem{path, "must be a boolean, not " + kind(d)}
		}
	case lexicon.SchemaBytes:
		if err := s.Validate(d); err != nil {
			return &problem{path, bytesProblem(s, d, err)}
		}
	case lexicon.SchemaCIDLink:
		if err := s.Validate(d); err != nil {
			return &problem{path, "must be a CID link ({\"$link\": ...}), not " + kind(d)}
		}
	case lexicon.SchemaBlob:
		if err := s.Validate(d, flags); err != nil {
			return &problem{path, blobProblem(s, d, err)}
		}
	case lexicon.SchemaUnknown:
		if err := s.Validate(d); err != nil {
			return &problem{path, "must be an object, not " + kind(d)}
		}
	case lexicon.SchemaToken:
		if err := s.Validate(d); err != nil {
			return &problem{path, "is a token definition, not a value"}
		}
	}
	return nil
}

func (e explainer) union(base string, s lexicon.SchemaUnion, d any, path string, depth int) *problem {
	obj, ok := d.(map[string]any)
	if !ok {
		return &problem{path, "must be an object with a $type (union), not " + kind(d)}
	}
	t, ok := obj["$type"].(string)
	if !ok {
		return &problem{path, "must have a string $type (union)"}
	}
	for _, r := range s.Refs {
		ref := fullRef(base, r)
		if ref != t { // exact match, as indigo does
			continue
		}
		next, err := e.cat.Resolve(ref)
		if err != nil {
			return &problem{path, "references unknown lexicon definition " + ref}
		}
		return e.data(baseOf(next.ID), next.Def, d, path, depth+1)
	}
	if s.Closed != nil && *s.Closed {
		allowed := make([]string, len(s.Refs))
		for i, r := range s.Refs {
			allowed[i] = fullRef(base, r)
		}
		return &problem{path, fmt.Sprintf("$type %s is not one of %s", t, strings.Join(allowed, ", "))}
	}
	// Open union: validate the variant if its schema is known.
	next, err := e.cat.Resolve(t)
	if err != nil {
		return nil
	}
	return e.data(baseOf(next.ID), next.Def, d, path, depth+1)
}

// kind names the atproto data model type of a decoded value.
func kind(d any) string {
	switch d.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64, int, int32, float64:
		return "an integer"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case atdata.Bytes, []byte:
		return "bytes"
	case atdata.CIDLink:
		return "a CID link"
	case atdata.Blob:
		return "a blob"
	default:
		return reflect.TypeOf(d).String()
	}
}

func stringProblem(s lexicon.SchemaString, d any, err error) string {
	v, ok := d.(string)
	if !ok {
		return "must be a string, not " + kind(d)
	}
	if s.Const != nil && v != *s.Const {
		return fmt.Sprintf("must be %q", *s.Const)
	}
	if s.MaxLength != nil && len(v) > *s.MaxLength {
		return fmt.Sprintf("must not be longer than %d bytes (UTF-8) (is %d)", *s.MaxLength, len(v))
	}
	if s.MinLength != nil && len(v) < *s.MinLength {
		return fmt.Sprintf("must not be shorter than %d bytes (UTF-8) (is %d)", *s.MinLength, len(v))
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
		return fmt.Sprintf("must be one of %s", strings.Join(quoteAll(s.Enum), ", "))
	}
	if s.MaxGraphemes != nil || s.MinGraphemes != nil {
		n := uniseg.GraphemeClusterCount(v)
		if s.MaxGraphemes != nil && n > *s.MaxGraphemes {
			return fmt.Sprintf("must not be longer than %d graphemes (is %d)", *s.MaxGraphemes, n)
		}
		if s.MinGraphemes != nil && n < *s.MinGraphemes {
			return fmt.Sprintf("must not be shorter than %d graphemes (is %d)", *s.MinGraphemes, n)
		}
	}
	if s.Format != nil {
		return fmt.Sprintf("must be a valid %s: %v", *s.Format, err)
	}
	return err.Error()
}

func integerProblem(s lexicon.SchemaInteger, d any, err error) string {
	v, ok := d.(int64)
	if !ok {
		return "must be an integer, not " + kind(d)
	}
	switch {
	case s.Const != nil && v != int64(*s.Const):
		return fmt.Sprintf("must be %d", *s.Const)
	case len(s.Enum) > 0 && !slices.Contains(s.Enum, int(v)):
		vals := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			vals[i] = strconv.Itoa(e)
		}
		return "must be one of " + strings.Join(vals, ", ")
	case s.Minimum != nil && v < int64(*s.Minimum):
		return fmt.Sprintf("must be at least %d (is %d)", *s.Minimum, v)
	case s.Maximum != nil && v > int64(*s.Maximum):
		return fmt.Sprintf("must be at most %d (is %d)", *s.Maximum, v)
	}
	return err.Error()
}

func bytesProblem(s lexicon.SchemaBytes, d any, err error) string {
	v, ok := d.(atdata.Bytes)
	if !ok {
		return "must be bytes ({\"$bytes\": ...}), not " + kind(d)
	}
	if s.MaxLength != nil && len(v) > *s.MaxLength {
		return fmt.Sprintf("must not be larger than %d bytes (is %d)", *s.MaxLength, len(v))
	}
	if s.MinLength != nil && len(v) < *s.MinLength {
		return fmt.Sprintf("must not be smaller than %d bytes (is %d)", *s.MinLength, len(v))
	}
	return err.Error()
}

func blobProblem(s lexicon.SchemaBlob, d any, err error) string {
	v, ok := d.(atdata.Blob)
	if !ok {
		return "must be a blob ({\"$type\": \"blob\", ...}), not " + kind(d)
	}
	if v.Size < 0 {
		return "must be a blob ref {\"$type\": \"blob\", \"ref\", \"mimeType\", \"size\"}; legacy {\"cid\", \"mimeType\"} refs are not allowed"
	}
	if s.MaxSize != nil && v.Size > int64(*s.MaxSize) {
		return fmt.Sprintf("blob is too large: %d bytes, at most %d allowed", v.Size, *s.MaxSize)
	}
	if len(s.Accept) > 0 {
		return fmt.Sprintf("blob MIME type %s is not accepted (allowed: %s)", v.MimeType, strings.Join(s.Accept, ", "))
	}
	return err.Error()
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
