// Helpers for the Developer screen's live view of /subscribe (Hearth's
// Jetstream-compatible stream): the subscription URL from the filters a
// person types, and a one-line summary of each JSON message.

export interface StreamFilter {
  /** Comma- or space-separated NSIDs, with prefix wildcards (app.bsky.feed.*). */
  collections: string
  /** Comma- or space-separated DIDs. */
  dids: string
  /** Unix microseconds to replay from; '' for live only. */
  cursor: string
}

function words(s: string): string[] {
  return s
    .split(/[\s,]+/)
    .map((w) => w.trim())
    .filter((w) => w !== '')
}

/** The /subscribe URL for base (ws://localhost:PORT/subscribe) and filter. */
export function subscribeURL(base: string, f: StreamFilter): string {
  const q = new URLSearchParams()
  for (const c of words(f.collections)) q.append('wantedCollections', c)
  for (const d of words(f.dids)) q.append('wantedDids', d)
  const cursor = f.cursor.trim()
  if (cursor !== '') q.set('cursor', cursor)
  const qs = q.toString()
  return qs ? `${base}?${qs}` : base
}

/** What the live view shows of one message. */
export interface StreamLine {
  timeUS: number
  did: string
  kind: string
  /** commit: "create app.bsky.feed.post/3k…"; identity: the handle; account: active or its status */
  what: string
  raw: string
}

export function summarize(raw: string): StreamLine | null {
  let m: Record<string, unknown>
  try {
    m = JSON.parse(raw) as Record<string, unknown>
  } catch {
    return null
  }
  if (typeof m !== 'object' || m === null || typeof m.did !== 'string' || typeof m.time_us !== 'number') return null
  const kind = typeof m.kind === 'string' ? m.kind : ''
  let what = ''
  if (kind === 'commit' && m.commit && typeof m.commit === 'object') {
    const c = m.commit as Record<string, unknown>
    what = `${c.operation ?? ''} ${c.collection ?? ''}/${c.rkey ?? ''}`
  } else if (kind === 'identity' && m.identity && typeof m.identity === 'object') {
    const h = (m.identity as Record<string, unknown>).handle
    what = typeof h === 'string' ? `@${h}` : 'identity changed'
  } else if (kind === 'account' && m.account && typeof m.account === 'object') {
    const a = m.account as Record<string, unknown>
    what = a.active ? 'active' : String(a.status ?? 'inactive')
  }
  return { timeUS: m.time_us, did: m.did, kind, what, raw }
}
