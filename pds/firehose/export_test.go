package firehose

// FellBehind reports whether a connected subscriber has fallen out of the
// ring: the last event handed to its connection is older than what the
// ring still holds, so its next read comes from the log and, being live,
// it is cut as soon as its pending write completes. Once true it stays
// true until that subscriber reads again (the ring only moves forward).
func FellBehind(h *Hub) bool {
	h.mu.Lock()
	subs := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		if !h.inRing(s.queued.Load()) {
			return true
		}
	}
	return false
}
