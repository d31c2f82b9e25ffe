// A record's JSON cut into pieces for display, with the values you can follow
// turned into links: AT-URIs open that record, a blob's CID opens the blob, a
// strong reference's CID opens the record it points at, web URLs open in the
// browser. DIDs and other CIDs are marked so they can be styled and copied.

export type LinkKind = 'aturi' | 'blob' | 'record-cid' | 'url' | 'did' | 'cid'

export interface Piece {
  text: string
  /** JSON syntax class for colouring: key, string, number, literal, punct. */
  cls?: 'key' | 'string' | 'number' | 'literal' | 'punct'
  kind?: LinkKind
  /** What the link opens: an AT-URI (aturi, record-cid), a CID (blob), a URL. */
  target?: string
}

const CID_RE = /^(bafy|bafk|bafz)[a-z2-7]{20,}$/
const DID_RE = /^did:[a-z]+:[A-Za-z0-9._:%-]+$/

interface Refs {
  blobs: Set<string>
  strong: Map<string, string> // cid -> at-uri
}

function collect(v: unknown, refs: Refs): void {
  if (Array.isArray(v)) {
    for (const x of v) collect(x, refs)
    return
  }
  if (!v || typeof v !== 'object') return
  const o = v as Record<string, unknown>
  if (o.$type === 'blob') {
    const ref = o.ref as Record<string, unknown> | undefined
    const link = ref && typeof ref === 'object' ? ref.$link : undefined
    if (typeof link === 'string') refs.blobs.add(link)
  }
  // Legacy blob refs: {cid, mimeType}
  if (typeof o.cid === 'string' && typeof o.mimeType === 'string' && !('uri' in o)) refs.blobs.add(o.cid)
  if (typeof o.uri === 'string' && o.uri.startsWith('at://') && typeof o.cid === 'string') refs.strong.set(o.cid, o.uri)
  for (const k of Object.keys(o)) collect(o[k], refs)
}

/** Classifies one string value of the record. */
export function classify(s: string, refs: Refs): { kind: LinkKind; target: string } | null {
  if (s.startsWith('at://')) return { kind: 'aturi', target: s }
  if (refs.blobs.has(s)) return { kind: 'blob', target: s }
  const uri = refs.strong.get(s)
  if (uri) return { kind: 'record-cid', target: uri }
  if (/^https?:\/\/[^\s]+$/.test(s)) return { kind: 'url', target: s }
  if (DID_RE.test(s)) return { kind: 'did', target: s }
  if (CID_RE.test(s)) return { kind: 'cid', target: s }
  return null
}

const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}[\],:]+)|(\s+)/g

/** The JSON text as pieces; falls back to one plain piece if it is not JSON. */
export function linkify(json: string): Piece[] {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return [{ text: json }]
  }
  const refs: Refs = { blobs: new Set(), strong: new Map() }
  collect(value, refs)
  const out: Piece[] = []
  let last = 0
  TOKEN.lastIndex = 0
  let m: RegExpExecArray | null
  while ((m = TOKEN.exec(json))) {
    if (m.index > last) out.push({ text: json.slice(last, m.index) })
    last = TOKEN.lastIndex
    if (m[1] !== undefined) {
      if (m[2] !== undefined) {
        out.push({ text: m[1], cls: 'key' })
        out.push({ text: m[2], cls: 'punct' })
        continue
      }
      let s: string
      try {
        s = JSON.parse(m[1]) as string
      } catch {
        s = m[1].slice(1, -1)
      }
      const c = classify(s, refs)
      out.push(c ? { text: m[1], cls: 'string', kind: c.kind, target: c.target } : { text: m[1], cls: 'string' })
    } else if (m[3] !== undefined) out.push({ text: m[3], cls: 'number' })
    else if (m[4] !== undefined) out.push({ text: m[4], cls: 'literal' })
    else if (m[5] !== undefined) out.push({ text: m[5], cls: 'punct' })
    else out.push({ text: m[6] })
  }
  if (last < json.length) out.push({ text: json.slice(last) })
  return out
}

/** Every blob CID a record references (for "this record uses…"). */
export function blobRefs(json: string): string[] {
  try {
    const refs: Refs = { blobs: new Set(), strong: new Map() }
    collect(JSON.parse(json), refs)
    return [...refs.blobs]
  } catch {
    return []
  }
}
