package repos

import (
	"fmt"

	"github.com/bluesky-social/indigo/atproto/atdata"
)

// Limits of the atproto data model that indigo's atdata parses but does not
// enforce (its MAX_CBOR_NESTED_LEVELS and MAX_SAFE_INTEGER are marked "not
// enforced"). Records are checked against them on every write and import.
const (
	// MaxNesting is the deepest nesting of objects and arrays in a record.
	MaxNesting = atdata.MAX_CBOR_NESTED_LEVELS
	maxSafeInt = atdata.MAX_SAFE_INTEGER
	minSafeInt = atdata.MIN_SAFE_INTEGER
)

// checkDataModel checks decoded atproto data (atdata.UnmarshalJSON or
// UnmarshalCBOR output, which already refused floats, bad $bytes and $link,
// and empty $type) for the limits atdata leaves out: nesting depth and
// integers a JSON client can represent exactly.
func checkDataModel(rec map[string]any) error {
	return checkValue(rec, 1)
}

func checkValue(v any, depth int) error {
	switch x := v.(type) {
	case map[string]any:
		if depth > MaxNesting {
			return fmt.Errorf("objects and arrays are nested more than %d deep", MaxNesting)
		}
		for k, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				if _, nested := e.(map[string]any); !nested {
					return fmt.Errorf("%s: %w", k, err)
				}
				return err
			}
		}
	case []any:
		if depth > MaxNesting {
			return fmt.Errorf("objects and arrays are nested more than %d deep", MaxNesting)
		}
		for _, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	case int64:
		if x > maxSafeInt || x < minSafeInt {
			return fmt.Errorf("integer %d is outside the safe range ±(2^53-1)", x)
		}
	}
	return nil
}
