package repos

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Checking records (decode, data model, re-encode) is most of an import's
// CPU: a checkPool spreads it over the cores while the MST walk goes on,
// and hands the checked records on in key order. Batches in flight are
// bounded, so memory does not grow with the CAR.
const (
	checkBatch    = 256
	checkInFlight = 8 // batches queued for the in-order consumer
)

// pendingRecord is a record the walk found, waiting to be checked.
type pendingRecord struct {
	rec planRecord // rec.data is a copy: the spill reuses its buffer
	key string
}

type checkJob struct {
	recs []pendingRecord
	err  error
	done chan struct{}
}

// checkPool checks records in parallel; emit gets them in the order added.
type checkPool struct {
	jobs    chan *checkJob
	ordered chan *checkJob
	workers sync.WaitGroup
	emitted chan struct{} // closed when the consumer ends
	cur     *checkJob

	mu  sync.Mutex
	err error // the first failure, in key order (the consumer stops there)
}

func newCheckPool(emit func(r *planRecord) error) *checkPool {
	n := max(1, runtime.GOMAXPROCS(0))
	p := &checkPool{jobs: make(chan *checkJob, n), ordered: make(chan *checkJob, checkInFlight), emitted: make(chan struct{})}
	for range n {
		p.workers.Add(1)
		go p.work()
	}
	go p.consume(emit)
	return p
}

func (p *checkPool) work() {
	defer p.workers.Done()
	cols := map[string]bool{} // collections seen valid by this worker
	for j := range p.jobs {
		j.err = checkJobRecords(j, cols)
		close(j.done)
	}
}

// maxCachedCollections bounds a worker's cache of valid collection names.
const maxCachedCollections = 1024

// parseRecordPath splits a record path as syntax.ParseRepoPath does (its
// regular expressions cost more than the rest of checking a plain record),
// remembering the collections that parsed in cols. Anything the quick
// checks do not accept goes to ParseRepoPath, for its verdict and error.
func parseRecordPath(key string, cols map[string]bool) (col, rkey string, err error) {
	i := strings.IndexByte(key, '/')
	if i > 0 && strings.IndexByte(key[i+1:], '/') < 0 && quickRecordKey(key[i+1:]) {
		col, rkey = key[:i], key[i+1:]
		if cols[col] {
			return col, rkey, nil
		}
		if _, err := syntax.ParseNSID(col); err == nil {
			if len(cols) < maxCachedCollections {
				cols[col] = true
			}
			return col, rkey, nil
		}
	}
	c, r, err := syntax.ParseRepoPath(key)
	if err != nil {
		return "", "", err
	}
	return c.String(), r.String(), nil
}

// quickRecordKey is the record key syntax: 1 to 512 of A-Z a-z 0-9 _ ~ . :
// -, and neither "." nor "..".
func quickRecordKey(s string) bool {
	if len(s) == 0 || len(s) > 512 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '~', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkJobRecords checks a batch; a decoder's panic becomes a refusal (it
// would otherwise end the process: the caller's recover is on another
// goroutine).
func checkJobRecords(j *checkJob, cols map[string]bool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = errs.Wrap(errs.ErrInvalidRequest, fmt.Errorf("panic checking a record: %v\n%s", v, debug.Stack()),
				"invalid repo CAR: a record could not be decoded")
		}
	}()
	for i := range j.recs {
		r := &j.recs[i]
		col, rkey, err := parseRecordPath(r.key, cols)
		if err != nil {
			return badCAR("record path %q: %v", r.key, err)
		}
		r.rec.collection, r.rec.rkey = col, rkey
		blobs, err := checkRecord([]byte(r.key), r.rec.data)
		if err != nil {
			return err
		}
		r.rec.blobs = blobs
	}
	return nil
}

func (p *checkPool) consume(emit func(r *planRecord) error) {
	defer close(p.emitted)
	for j := range p.ordered {
		<-j.done
		if p.failed() {
			continue // drain
		}
		err := j.err
		for i := 0; err == nil && i < len(j.recs); i++ {
			err = emit(&j.recs[i].rec)
		}
		if err != nil {
			p.fail(err)
		}
	}
}

func (p *checkPool) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *checkPool) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil
}

// add queues a record (data is copied); it returns the failure of a record
// before it, so that the walk stops early.
func (p *checkPool) add(key []byte, rec planRecord, data []byte) error {
	if p.failed() {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	if p.cur == nil {
		p.cur = &checkJob{recs: make([]pendingRecord, 0, checkBatch), done: make(chan struct{})}
	}
	rec.data = append([]byte(nil), data...)
	p.cur.recs = append(p.cur.recs, pendingRecord{rec: rec, key: string(key)})
	if len(p.cur.recs) == checkBatch {
		p.flush()
	}
	return nil
}

func (p *checkPool) flush() {
	if p.cur == nil {
		return
	}
	j := p.cur
	p.cur = nil
	p.ordered <- j // bounded: waits for the consumer
	p.jobs <- j
}

// wait checks what is queued, stops the workers and returns the first
// failure in key order (nil if every record passed and was emitted).
func (p *checkPool) wait() error {
	p.flush()
	close(p.jobs)
	close(p.ordered)
	p.workers.Wait()
	<-p.emitted
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
