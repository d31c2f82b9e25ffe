package eventlog

import "sync"

// notifier fans events out to subscribers without ever blocking a writer: a
// subscriber whose buffer is full misses events (it can always re-read the
// log by seq).
type notifier struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

func newNotifier() *notifier { return &notifier{subs: map[chan Event]struct{}{}} }

func (n *notifier) publish(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (n *notifier) subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, buf)
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
