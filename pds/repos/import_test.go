package repos_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/repos"
)

const testDID = "did:plc:abcdefghijklmnopqrstuvwx"

// carBuilder assembles a repo CAR from hand-made blocks.
type carBuilder struct {
	t      testing.TB
	blocks []actorrepo.Block
}

// put adds a block (raw bytes) and returns its CID.
func (b *carBuilder) put(data []byte) cid.Cid {
	c, err := actorrepo.CBORCID(data)
	if err != nil {
		b.t.Fatal(err)
	}
	b.blocks = append(b.blocks, actorrepo.Block{CID: c, Data: data})
	return c
}

// node adds an MST node block.
func (b *carBuilder) node(nd mst.NodeData) cid.Cid {
	var buf bytes.Buffer
	if err := nd.MarshalCBOR(&buf); err != nil {
		b.t.Fatal(err)
	}
	return b.put(buf.Bytes())
}

// record adds a record block.
func (b *carBuilder) record(rec map[string]any) cid.Cid {
	data, err := atdata.MarshalCBOR(rec)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.put(data)
}

// car adds a commit for the tree at data and returns the CAR.
func (b *carBuilder) car(data cid.Cid) []byte {
	commit, err := atdata.MarshalCBOR(map[string]any{"did": testDID, "version": int64(3), "data": atdata.CIDLink(data), "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": atdata.Bytes([]byte{1, 2, 3})})
	if err != nil {
		b.t.Fatal(err)
	}
	cc, err := actorrepo.CBORCID(commit)
	if err != nil {
		b.t.Fatal(err)
	}
	car, err := events.CARBytes(append([]actorrepo.Block{{CID: cc, Data: commit}}, b.blocks...))
	if err != nil {
		b.t.Fatal(err)
	}
	return car
}

// keyAt finds a record path whose MST layer is h, after the key after.
func keyAt(t testing.TB, h int, after string) string {
	for i := 0; i < 1_000_000; i++ {
		k := fmt.Sprintf("com.example.record/k%06d", i)
		if k > after && mst.HeightForKey([]byte(k)) == h {
			return k
		}
	}
	t.Fatalf("no key on layer %d", h)
	return ""
}

func entry(prefix int, suffix string, v cid.Cid, right *cid.Cid) mst.EntryData {
	return mst.EntryData{PrefixLen: int64(prefix), KeySuffix: []byte(suffix), Value: v, Right: right}
}

func wantBadCAR(t *testing.T, car []byte, want string) {
	t.Helper()
	_, err := repos.ParseRepoCAR(ctx, bytes.NewReader(car), int64(len(car)), nil)
	if err == nil {
		t.Fatalf("accepted; want an error containing %q", want)
	}
	var e *errs.Error
	if !errors.As(err, &e) || !errors.Is(err, errs.ErrInvalidRequest) {
		t.Fatalf("not an InvalidRequest: %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not mention %q", err, want)
	}
}

// A CAR whose MST or records are malformed is refused with a clear
// InvalidRequest, never a panic: indigo's decoder slices keys with the
// node's prefix lengths, and used to crash on a prefix past the previous key.
func TestParseRepoCARRefusesMalformedTrees(t *testing.T) {
	for _, tc := range malformedTrees(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := &carBuilder{t: t}
			wantBadCAR(t, b.car(tc.build(b)), tc.want)
		})
	}
}

type malformedCase struct {
	name  string
	build func(b *carBuilder) cid.Cid
	want  string
}

// malformedTrees are CARs that are well-formed but for one defect of the
// tree or a record (also seeds of FuzzParseRepoCAR).
func malformedTrees(t testing.TB) []malformedCase {
	k0a := keyAt(t, 0, "")
	k0b := keyAt(t, 0, k0a)
	k1 := keyAt(t, 1, k0b)
	k0d := keyAt(t, 0, k1)
	shared := mst.CountPrefixLen([]byte(k0a), []byte(k0b))
	rec := map[string]any{"$type": "com.example.record", "n": int64(1)}
	return []malformedCase{
		{"first prefix past the (empty) previous key", func(b *carBuilder) cid.Cid {
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(5, k0a, b.record(rec), nil)}})
		}, "prefix length 5"},
		{"prefix past the previous key", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil), entry(len(k0a)+10, "x", v, nil)}})
		}, "prefix length"},
		{"negative prefix", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil), entry(-1, "x", v, nil)}})
		}, "prefix length -1"},
		{"prefix shorter than the shared prefix", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil), entry(0, k0b, v, nil)}})
		}, fmt.Sprintf("not the %d bytes", shared)},
		{"keys out of order", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0b, v, nil), entry(mst.CountPrefixLen([]byte(k0b), []byte(k0a)), k0a[mst.CountPrefixLen([]byte(k0b), []byte(k0a)):], v, nil)}})
		}, "out of order"},
		{"duplicate key", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil), entry(len(k0a), "", v, nil)}})
		}, "out of order"},
		{"empty key", func(b *carBuilder) cid.Cid {
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, "", b.record(rec), nil)}})
		}, "invalid key"},
		{"key on the wrong layer", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			n := mst.CountPrefixLen([]byte(k0a), []byte(k1))
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil), entry(n, k1[n:], v, nil)}})
		}, "belongs on layer 1"},
		{"subtree on layer 0", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0b, v, nil)}})
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, &sub)}})
		}, "layer 0 but has a subtree"},
		{"subtree two layers down", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			k2 := keyAt(t, 2, k0b)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil)}})
			return b.node(mst.NodeData{Left: &sub, Entries: []mst.EntryData{entry(0, k2, v, nil)}})
		}, "belongs on layer 0, not 1"},
		{"dangling subtree", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			missing, _ := actorrepo.CBORCID([]byte("not in the CAR"))
			return b.node(mst.NodeData{Left: &missing, Entries: []mst.EntryData{entry(0, k1, v, nil)}})
		}, "is missing"},
		{"empty subtree", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{}})
			return b.node(mst.NodeData{Left: &sub, Entries: []mst.EntryData{entry(0, k1, v, nil)}})
		}, "is empty"},
		{"root with only a subtree", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil)}})
			return b.node(mst.NodeData{Left: &sub, Entries: []mst.EntryData{}})
		}, "has a subtree but no entries"},
		{"subtree out of order", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0d, v, nil)}}) // k0d > k1, left of k1
			return b.node(mst.NodeData{Left: &sub, Entries: []mst.EntryData{entry(0, k1, v, nil)}})
		}, "out of order"},
		{"node shared by two parents", func(b *carBuilder) cid.Cid {
			v := b.record(rec)
			sub := b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil)}})
			return b.node(mst.NodeData{Left: &sub, Entries: []mst.EntryData{entry(0, k1, v, &sub)}})
		}, "referenced more than once"},
		{"node not canonical (non-minimal integer)", func(b *carBuilder) cid.Cid {
			var buf bytes.Buffer
			_ = (&mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, b.record(rec), nil)}}).MarshalCBOR(&buf)
			// "p": 0 is 0x61 'p' 0x00; encode it as 0x18 0x00.
			nb := bytes.Replace(buf.Bytes(), []byte{0x61, 'p', 0x00}, []byte{0x61, 'p', 0x18, 0x00}, 1)
			return b.put(nb)
		}, "not canonical"},
		{"record not canonical (unsorted keys)", func(b *carBuilder) cid.Cid {
			// {"b": 1, "a": 1}: canonical DAG-CBOR sorts the keys.
			v := b.put([]byte{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x01})
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil)}})
		}, "not canonical"},
		{"record with a float", func(b *carBuilder) cid.Cid {
			v := b.put([]byte{0xa1, 0x61, 'n', 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0})
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, v, nil)}})
		}, "not valid atproto data"},
		{"record nested too deep", func(b *carBuilder) cid.Cid {
			deep := map[string]any{"x": int64(1)}
			for range 40 {
				deep = map[string]any{"x": deep}
			}
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, b.record(deep), nil)}})
		}, "nested more than"},
		{"record missing", func(b *carBuilder) cid.Cid {
			missing, _ := actorrepo.CBORCID([]byte("no such record"))
			return b.node(mst.NodeData{Entries: []mst.EntryData{entry(0, k0a, missing, nil)}})
		}, "is missing"},
	}
}

// A CAR whose root or commit are not what a repo uses is refused.
func TestParseRepoCARRefusesBadCommits(t *testing.T) {
	b := &carBuilder{t: t}
	empty := b.node(mst.NodeData{Entries: []mst.EntryData{}})
	good := b.car(empty)
	if _, err := repos.ParseRepoCAR(ctx, bytes.NewReader(good), 0, nil); err != nil {
		t.Fatalf("the empty repo is refused: %v", err)
	}
	// A commit whose fields are in the wrong order is not canonical.
	commit := []byte{0xa6}
	for _, kv := range [][]byte{
		append([]byte{0x63}, "sig"...), {0x43, 1, 2, 3},
		append([]byte{0x63}, "did"...), append([]byte{0x78, byte(len(testDID))}, testDID...),
		append([]byte{0x63}, "rev"...), append([]byte{0x6d}, "3kaaaaaaaaaaa"...),
		append([]byte{0x64}, "data"...), append([]byte{0xd8, 0x2a, 0x58, 0x25, 0x00}, empty.Bytes()...),
		append([]byte{0x64}, "prev"...), {0xf6},
		append([]byte{0x67}, "version"...), {0x03},
	} {
		commit = append(commit, kv...)
	}
	cc, _ := actorrepo.CBORCID(commit)
	car, err := events.CARBytes([]actorrepo.Block{{CID: cc, Data: commit}, b.blocks[0]})
	if err != nil {
		t.Fatal(err)
	}
	wantBadCAR(t, car, "commit block is not canonical")
}

type mstFixtures struct {
	LeafValue string `json:"leafValue"`
	KnownMaps []struct {
		Name string   `json:"name"`
		Keys []string `json:"keys"`
		Root string   `json:"root"`
	} `json:"knownMaps"`
	EdgeCases []struct {
		Name  string `json:"name"`
		Steps []struct {
			Add []string `json:"add"`
			Del []string `json:"del"`
		} `json:"steps"`
	} `json:"edgeCases"`
}

// keySets lists the key sets of the fixture trees: the known maps, and the
// state after each step of the edge cases (layers skipped, trees trimmed).
func (fx mstFixtures) keySets() map[string][]string {
	out := map[string][]string{}
	for _, m := range fx.KnownMaps {
		out[m.Name] = m.Keys
	}
	for _, e := range fx.EdgeCases {
		set := map[string]bool{}
		for i, st := range e.Steps {
			for _, k := range st.Add {
				set[k] = true
			}
			for _, k := range st.Del {
				delete(set, k)
			}
			var keys []string
			for k := range set {
				keys = append(keys, k)
			}
			out[fmt.Sprintf("%s step %d", e.Name, i)] = keys
		}
	}
	return out
}

// validCARs builds a repo CAR for each known MST of the interop fixtures
// (every tree shape the reference tests), with one record per key.
func validCARs(t testing.TB) map[string][]byte {
	raw, err := os.ReadFile("testdata/mst-example-trees.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx mstFixtures
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, keys := range fx.keySets() {
		r := actorrepo.New(testDID)
		var ops []actorrepo.Op
		for _, k := range keys {
			col, rkey, _ := strings.Cut(k, "/")
			blk, err := actorrepo.EncodeRecord(map[string]any{"$type": col, "key": k, "b": atdata.Bytes{}})
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: col, Rkey: rkey, Record: &blk})
		}
		if len(ops) == 0 {
			continue
		}
		key := seedKey(t)
		res, err := r.Apply(ops, key, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nodes, _ := r.Nodes()
		blocks := append([]actorrepo.Block{{CID: res.Head.CID, Data: res.Head.Bytes}}, nodes...)
		for _, op := range ops {
			blocks = append(blocks, *op.Record)
		}
		car, err := events.CARBytes(blocks)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = car
	}
	return out
}

// Every well-formed tree of the interop fixtures imports, with all its
// records: the checks refuse nothing the reference writes.
func TestParseRepoCARAcceptsEveryFixtureTree(t *testing.T) {
	cars := validCARs(t)
	if len(cars) < 10 {
		t.Fatalf("only %d fixture trees", len(cars))
	}
	for name, car := range cars {
		p, err := repos.ParseRepoCAR(ctx, bytes.NewReader(car), int64(len(car)), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.Summary.Records == 0 {
			t.Errorf("%s: no records", name)
		}
		// The empty byte string round-trips through the CAR browser.
		recs, _, err := p.RecordsIn(p.Summary.Collections[0].Collection, "", 5)
		if err != nil || len(recs) == 0 {
			t.Errorf("%s: RecordsIn: %v", name, err)
			continue
		}
		if _, err := json.Marshal(recs[0].Value); err != nil {
			t.Errorf("%s: record does not render as JSON: %v", name, err)
		}
	}
}

func seedKey(t testing.TB) *atcrypto.PrivateKeyK256 {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestWriteFuzzSeeds writes the committed seed corpus of FuzzParseRepoCAR
// (valid CARs of every fixture tree shape, cut and flipped copies, and one
// CAR per malformed-tree case) when HEARTH_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("HEARTH_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set HEARTH_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzParseRepoCAR")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseRepoCAR")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		file := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		name = strings.ReplaceAll(name, " ", "-")
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, car := range validCARs(t) {
		write("valid-"+name, car)
		for i, m := range mutations(car) {
			write(fmt.Sprintf("mutated-%s-%d", name, i), m)
		}
	}
	for i, tc := range malformedTrees(t) {
		b := &carBuilder{t: t}
		write(fmt.Sprintf("malformed-%02d", i), b.car(tc.build(b)))
	}
}
