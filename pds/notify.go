package pds

import "sync"

// Change tells a subscriber that the event log grew.
type Change struct {
	Seq  int64
	DID  string
	Kind string // #commit, #sync, #identity, #account
	Rev  string
	// Time and Frame are the logged event, so followers need not read it
	// back (a subscriber must not modify Frame).
	Time  string
	Frame []byte
}

// notifier fans change notifications out to subscribers without ever
// blocking a writer: a subscriber whose buffer is full misses notifications
// (it can always re-read the event log by seq).
type notifier struct {
	mu     sync.Mutex
	subs   map[chan Change]struct{}
	closed bool
}

func newNotifier() *notifier { return &notifier{subs: map[chan Change]struct{}{}} }

func (n *notifier) publish(c Change) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

func (n *notifier) subscribe(buf int) (<-chan Change, func()) {
	ch := make(chan Change, buf)
	n.mu.Lock()
	if n.closed {
		close(ch)
	} else {
		n.subs[ch] = struct{}{}
	}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		if _, ok := n.subs[ch]; ok {
			delete(n.subs, ch)
			close(ch)
		}
		n.mu.Unlock()
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for ch := range n.subs {
		close(ch)
		delete(n.subs, ch)
	}
}

// Subscribe returns a channel of change notifications and a cancel func.
func (e *Engine) Subscribe(buf int) (<-chan Change, func()) { return e.notify.subscribe(buf) }
