package backup_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/backup"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/secrets"
)

// BenchmarkCreate backs up a repo of 10,000 records and 20 blobs of
// 100 KB (age's default scrypt work factor), reporting the backup's size.
// go test -run '^$' -bench Create -benchtime 1x ./pds/backup/
func BenchmarkCreate(b *testing.B) {
	p := benchPDS(b)
	b.ResetTimer()
	for range b.N {
		var cw countWriter
		m, err := backup.Create(ctx, backup.Options{DataDir: p.Config.DataDir, Passphrase: "bench passphrase"}, &cw)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cw.n), "backup-bytes")
		b.ReportMetric(float64(m.DatabaseBytes), "db-bytes")
		b.ReportMetric(float64(m.Accounts[0].Records), "records")
	}
}

// BenchmarkRestore restores that backup (unpack, Engine.Verify, rename).
func BenchmarkRestore(b *testing.B) {
	p := benchPDS(b)
	var buf bytes.Buffer
	if _, err := backup.Create(ctx, backup.Options{DataDir: p.Config.DataDir, Passphrase: "bench passphrase"}, &buf); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := backup.Restore(ctx, bytes.NewReader(buf.Bytes()), backup.RestoreOptions{DataDir: filepath.Join(b.TempDir(), "r"), Passphrase: "bench passphrase", KeyStore: secrets.StoreFile}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPDS(b *testing.B) *testpds.PDS {
	p := testpds.Start(b, nil)
	acc := p.CreateAccount(b, "bench.test")
	did := syntax.DID(acc.DID)
	base := time.Now().UnixMicro()
	for i := 0; i < 10_000; i += 200 {
		var ws []repos.Write
		for j := range 200 {
			ws = append(ws, repos.Write{Action: "create", Collection: "app.bsky.feed.post", Rkey: syntax.RecordKey(syntax.NewTID(base+int64(i+j), 0).String()),
				Record: map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d of a long-lived account", i+j), "createdAt": syntax.DatetimeNow().String()}})
		}
		if _, err := p.Engine.Repos.ApplyWrites(ctx, did, ws, repos.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for range 20 {
		blob := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100_000)...)
		if _, err := rand.Read(blob[8:]); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Engine.Blobs.Upload(ctx, did, "image/png", bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
