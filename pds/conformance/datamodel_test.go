package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

type dataModelFixture struct {
	JSON       json.RawMessage `json:"json"`
	CBORBase64 string          `json:"cbor_base64"`
	CID        string          `json:"cid"`
}

type dataModelSimpleFixture struct {
	Note string          `json:"note"`
	JSON json.RawMessage `json:"json"`
}

// recordCID is how Hearth computes a record CID: CIDv1, dag-cbor, sha2-256.
func recordCID(t *testing.T, b []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameJSON reports whether two JSON documents are semantically equal.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestDataModelFixtures(t *testing.T) {
	var fixtures []dataModelFixture
	readJSON(t, "data-model/data-model-fixtures.json", &fixtures)
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for i, fx := range fixtures {
		t.Run(fmt.Sprintf("%d %s", i, fx.CID), func(t *testing.T) {
			wantCBOR, err := base64.RawStdEncoding.DecodeString(fx.CBORBase64)
			if err != nil {
				t.Fatal(err)
			}

			// JSON -> data
			fromJSON, err := atdata.UnmarshalJSON(fx.JSON)
			if err != nil {
				t.Fatalf("UnmarshalJSON: %v", err)
			}
			// CBOR -> data
			fromCBOR, err := atdata.UnmarshalCBOR(wantCBOR)
			if err != nil {
				t.Fatalf("UnmarshalCBOR: %v", err)
			}
			if !reflect.DeepEqual(fromJSON, fromCBOR) {
				t.Errorf("JSON and CBOR decode differently:\n json: %#v\n cbor: %#v", fromJSON, fromCBOR)
			}

			// data -> CBOR is byte-exact (canonical DAG-CBOR), from either side.
			for name, d := range map[string]map[string]any{"from JSON": fromJSON, "from CBOR": fromCBOR} {
				gotCBOR, err := atdata.MarshalCBOR(d)
				if err != nil {
					t.Fatalf("%s: MarshalCBOR: %v", name, err)
				}
				if !bytes.Equal(gotCBOR, wantCBOR) {
					t.Errorf("%s: CBOR = %x, want %x", name, gotCBOR, wantCBOR)
				}
				// CBOR -> CID
				if got := recordCID(t, gotCBOR).String(); got != fx.CID {
					t.Errorf("%s: CID = %s, want %s", name, got, fx.CID)
				}
			}

			// data -> JSON gives back the original JSON.
			gotJSON, err := json.Marshal(fromCBOR)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if !sameJSON(t, gotJSON, fx.JSON) {
				t.Errorf("JSON round trip:\n got %s\nwant %s", gotJSON, fx.JSON)
			}

			// atdata.Validate checks raw generic JSON data (as decoded by
			// encoding/json), not data already parsed by atdata.
			var raw map[string]any
			if err := json.Unmarshal(fx.JSON, &raw); err != nil {
				t.Fatal(err)
			}
			if err := atdata.Validate(raw); err != nil {
				t.Errorf("Validate(raw JSON data): %v", err)
			}
		})
	}
}

func TestDataModelValid(t *testing.T) {
	var fixtures []dataModelSimpleFixture
	readJSON(t, "data-model/data-model-valid.json", &fixtures)
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for _, fx := range fixtures {
		t.Run(fx.Note, func(t *testing.T) {
			d, err := atdata.UnmarshalJSON(fx.JSON)
			if err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", fx.JSON, err)
			}
			// Valid data also survives a CBOR round trip unchanged.
			b, err := atdata.MarshalCBOR(d)
			if err != nil {
				t.Fatalf("MarshalCBOR: %v", err)
			}
			again, err := atdata.UnmarshalCBOR(b)
			if err != nil {
				t.Fatalf("UnmarshalCBOR: %v", err)
			}
			b2, err := atdata.MarshalCBOR(again)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("CBOR not stable: %x then %x", b, b2)
			}
		})
	}
}

func TestDataModelInvalid(t *testing.T) {
	var fixtures []dataModelSimpleFixture
	readJSON(t, "data-model/data-model-invalid.json", &fixtures)
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for _, fx := range fixtures {
		t.Run(fx.Note, func(t *testing.T) {
			if d, err := atdata.UnmarshalJSON(fx.JSON); err == nil {
				t.Errorf("UnmarshalJSON(%s) accepted invalid data: %#v", fx.JSON, d)
			}
		})
	}
}

// Pins an API trap: atdata.Validate re-parses its argument as raw JSON-shaped
// data, so it rejects data that atdata.UnmarshalJSON/UnmarshalCBOR already
// decoded into atdata.Blob / atdata.CIDLink / atdata.Bytes. Use it on raw
// encoding/json output only; decoded data is valid by construction.
func TestDataModelValidateWantsRawData(t *testing.T) {
	const js = `{"a": {"$link": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}}`
	d, err := atdata.UnmarshalJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d["a"].(atdata.CIDLink); !ok {
		t.Fatalf("decoded $link is %T, want atdata.CIDLink", d["a"])
	}
	if err := atdata.Validate(d); err == nil {
		t.Error("atdata.Validate now accepts decoded data; this trap is gone, update the comment above")
	}
}

// Data-model limits Hearth relies on when reading and writing records.
func TestDataModelLimits(t *testing.T) {
	// Trap: UnmarshalJSON decodes numbers through float64, so JSON integers
	// beyond 2^53 are silently rounded rather than rejected. Records from
	// clients should stay within the JS-safe range anyway (the data model
	// spec recommends it); anything needing exact big integers must not go
	// through atdata.UnmarshalJSON.
	d, err := atdata.UnmarshalJSON([]byte(`{"a": 9007199254740993}`))
	if err != nil {
		t.Fatalf("2^53+1: %v", err)
	}
	if got := d["a"]; got != int64(9007199254740992) {
		t.Errorf("2^53+1 decoded as %#v; the float64 rounding trap changed, update this test", got)
	}
	// Numbers that do not fit an int64 are rejected.
	if _, err := atdata.UnmarshalJSON([]byte(`{"a": 1e300}`)); err == nil {
		t.Error("1e300 accepted as an integer")
	}
	// A legacy blob ({cid, mimeType}) still decodes, as a Blob with Size -1;
	// rejecting it on write is the lexicon validator's job.
	d, err = atdata.UnmarshalJSON([]byte(`{"b": {"cid": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity", "mimeType": "image/png"}}`))
	if err != nil {
		t.Fatalf("legacy blob: %v", err)
	}
	if b, ok := d["b"].(atdata.Blob); !ok || b.Size != -1 {
		t.Errorf("legacy blob decoded as %#v, want atdata.Blob with Size -1", d["b"])
	}
}
