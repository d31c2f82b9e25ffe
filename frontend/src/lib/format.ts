// Small formatting helpers shared by the screens.

const UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB']

/**
 * A byte count in words, with decimal units as Bluesky uses them
 * (its image limit, 1,000,000 bytes, is "1 MB").
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—'
  if (n === 1) return '1 byte'
  if (n < 1000) return `${Math.round(n)} bytes`
  let u = 0
  let v = n
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000
    u++
  }
  const digits = (x: number) => (x < 100 ? 1 : 0)
  // 999.7 KB would round to "1000 KB": move up a unit instead.
  if (Number(v.toFixed(digits(v))) >= 1000 && u < UNITS.length - 1) {
    v /= 1000
    u++
  }
  return `${v.toFixed(digits(v)).replace(/\.0$/, '')} ${UNITS[u]}`
}

/** "3 records", "1 record". */
export function plural(n: number, one: string, many = one + 's'): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

/** bafyreie…x2m4 — enough to tell CIDs apart at a glance. */
export function shortCID(cid: string, head = 10, tail = 6): string {
  if (!cid || cid.length <= head + tail + 1) return cid
  return `${cid.slice(0, head)}…${cid.slice(-tail)}`
}

/** A timestamp as local date and time, or the input when it is not one. */
export function formatTime(iso: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (!iso || Number.isNaN(d.getTime())) return iso || ''
  const sameDay = d.toDateString() === now.toDateString()
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  if (sameDay) return `Today ${time}`
  return `${d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })} ${time}`
}

/**
 * An error from a bound Go method (Wails rejects with the error's text) as a
 * sentence a person can read: the engine's "InvalidRequest: …" error names
 * are dropped, the first letter is capitalised (unless the sentence starts
 * with a domain, DID or URL) and a full stop added.
 */
export function errorText(e: unknown): string {
  let s: string
  if (typeof e === 'string') s = e
  else if (e instanceof Error) s = e.message
  else if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string')
    s = (e as { message: string }).message
  else s = String(e ?? '')
  s = s.trim()
  if (!s) return 'Something went wrong (no details were given).'
  const m = /^([A-Z][A-Za-z]+): (.+)$/s.exec(s)
  if (m) s = m[2].trim()
  // A leading domain, DID or URL keeps its case ("alice.example.com does not resolve…").
  if (!/^\S*[.:/@]\S/.test(s)) s = s.charAt(0).toUpperCase() + s.slice(1)
  if (!/[.!?)]$/.test(s)) s += '.'
  return s
}

/** An event-log kind ("#commit" or "commit") as a bare word. */
export function eventKind(kind: string): string {
  return kind.replace(/^#/, '')
}

/** What an event of the log means, for a person. */
export function eventMeaning(kind: string, ops = 0): string {
  switch (eventKind(kind)) {
    case 'commit':
      return ops ? '' : 'New, empty repository'
    case 'sync':
      return 'Repository replaced (import)'
    case 'identity':
      return 'Handle or DID document changed'
    case 'account':
      return 'Account status changed'
    default:
      return ''
  }
}
