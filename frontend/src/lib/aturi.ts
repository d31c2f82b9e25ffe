// AT-URIs: at://<did>/<collection>/<rkey>

export interface ATURI {
  did: string
  collection: string
  rkey: string
}

export function parseATURI(s: string): ATURI | null {
  const m = /^at:\/\/([^/?#\s]+)(?:\/([^/?#\s]+))?(?:\/([^/?#\s]+))?\/?$/.exec(s.trim())
  if (!m) return null
  return { did: m[1], collection: m[2] ?? '', rkey: m[3] ?? '' }
}

export function isATURI(s: string): boolean {
  const u = parseATURI(s)
  return !!u && !!u.collection && !!u.rkey
}

export function atURI(did: string, collection: string, rkey: string): string {
  return `at://${did}/${collection}/${rkey}`
}

/** The record an event-log op like "create app.bsky.feed.post/3k…" touched. */
export function opTarget(op: string, did: string): { action: string; path: string; uri: string } {
  const i = op.indexOf(' ')
  const action = i < 0 ? op : op.slice(0, i)
  const path = i < 0 ? '' : op.slice(i + 1)
  return { action, path, uri: path ? `at://${did}/${path}` : '' }
}
