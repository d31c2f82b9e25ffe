package plcdir

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// Journaled is a Directory whose accepted operations are appended to a
// file (one JSON line {"did", "op"} each, fsynced before the answer) and
// replayed, verified again, when it is opened: a directory that keeps its
// DIDs across restarts, for hearthd devnet.
type Journaled struct {
	*Directory
	mu   sync.Mutex // one submission at a time: the file keeps accept order
	file *os.File
}

type journalLine struct {
	DID string          `json:"did"`
	Op  json.RawMessage `json:"op"`
}

// OpenJournaled opens (or creates) the journal at path and replays it. A
// last line cut short by a crash is dropped; any other line that does not
// replay is an error (nothing is dropped silently).
func OpenJournaled(ctx context.Context, path string) (*Journaled, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the PLC journal: %w", err)
	}
	j := &Journaled{Directory: New(), file: f}
	if err := j.replay(ctx); err != nil {
		_ = f.Close() // the replay error is the one to report
		return nil, err
	}
	return j, nil
}

func (j *Journaled) replay(ctx context.Context) error {
	data, err := io.ReadAll(j.file)
	if err != nil {
		return fmt.Errorf("read the PLC journal: %w", err)
	}
	good := 0 // bytes of complete, replayed lines
	for n := 1; good < len(data); n++ {
		line, rest, complete := bytes.Cut(data[good:], []byte("\n"))
		_ = rest
		var jl journalLine
		if err := json.Unmarshal(line, &jl); err != nil {
			if !complete {
				break // a write cut short: dropped below
			}
			return fmt.Errorf("PLC journal line %d is damaged: %w", n, err)
		}
		if err := j.submit(ctx, jl.DID, bytes.NewReader(jl.Op)); err != nil {
			return fmt.Errorf("PLC journal line %d (%s) does not replay: %w", n, jl.DID, err)
		}
		good += len(line)
		if complete {
			good++
		}
	}
	if good < len(data) {
		if err := j.file.Truncate(int64(good)); err != nil {
			return fmt.Errorf("drop the PLC journal's cut-short last line: %w", err)
		}
	}
	if _, err := j.file.Seek(int64(good), io.SeekStart); err != nil {
		return fmt.Errorf("seek the PLC journal: %w", err)
	}
	return nil
}

// ServeHTTP serves the directory; an operation it accepts is in the
// journal before the answer goes out.
func (j *Journaled) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		j.Directory.ServeHTTP(w, r)
		return
	}
	did, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil || rest != "" || !json.Valid(raw) {
		writeJSON(w, http.StatusBadRequest, "application/json", map[string]string{"message": "expected a JSON operation POSTed to /{did}"})
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.submit(r.Context(), did, bytes.NewReader(raw)); err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, msg: "could not accept the operation"}
		}
		writeJSON(w, he.status, "application/json", map[string]string{"message": he.msg})
		return
	}
	if err := j.append(did, raw); err != nil {
		// Accepted in memory but not kept: say so rather than pretend.
		writeJSON(w, http.StatusInternalServerError, "application/json", map[string]string{"message": "the operation could not be written to the journal"})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (j *Journaled) append(did string, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	line, err := json.Marshal(journalLine{DID: did, Op: buf.Bytes()})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(j.file)
	if _, err := w.Write(append(line, '\n')); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return j.file.Sync()
}

// Close closes the journal.
func (j *Journaled) Close() error { return j.file.Close() }
