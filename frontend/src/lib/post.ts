// The composer's logic: the 300-grapheme limit and facets (links, mentions,
// hashtags) found with @atproto/api's RichText, mentions resolved to DIDs.
import { RichText } from '@atproto/api'

/** Bluesky's limit for a post's text, in graphemes (what a person sees as characters). */
export const POST_LIMIT = 300
/** The counter turns amber when this few graphemes are left. */
export const POST_WARN_AT = 20

export function graphemeCount(text: string): number {
  return new RichText({ text }).graphemeLength
}

export interface LimitState {
  count: number
  remaining: number
  level: 'ok' | 'warn' | 'over'
  /** The fraction of the limit used, 0…1 (capped), for a ring or bar. */
  fraction: number
}

export function limitState(text: string, limit = POST_LIMIT): LimitState {
  const count = graphemeCount(text)
  const remaining = limit - count
  const level = remaining < 0 ? 'over' : remaining <= POST_WARN_AT ? 'warn' : 'ok'
  return { count, remaining, level, fraction: Math.min(1, count / limit) }
}

/** Why the post cannot be sent yet, or null when it can. */
export function postBlocker(text: string, imageCount: number, limit = POST_LIMIT): string | null {
  if (!text.trim() && imageCount === 0) return 'Write something or add an image.'
  const over = graphemeCount(text) - limit
  if (over > 0) return `The post is ${over} ${over === 1 ? 'character' : 'characters'} too long (the limit is ${limit}).`
  return null
}

export interface FacetFeature {
  $type: string
  uri?: string
  did?: string
  tag?: string
}

export interface Facet {
  $type?: string
  index: { byteStart: number; byteEnd: number }
  features: FacetFeature[]
}

export const MENTION = 'app.bsky.richtext.facet#mention'
export const LINK = 'app.bsky.richtext.facet#link'
export const TAG = 'app.bsky.richtext.facet#tag'

/** Resolves a handle to a DID; null when it cannot be resolved. */
export type Resolver = (handle: string) => Promise<string | null>

export interface Mention {
  handle: string
  did: string | null
}

export interface FacetResult {
  /** Facets for the record: links, tags and the mentions that resolved. */
  facets: Facet[]
  links: string[]
  tags: string[]
  /** Every mention typed, with its DID or null when it did not resolve (and was dropped). */
  mentions: Mention[]
}

/** Facets as RichText finds them, before any mention is resolved (the "did" of a mention is its handle). */
export function detectFacets(text: string): Facet[] {
  const rt = new RichText({ text })
  rt.detectFacetsWithoutResolution()
  return (rt.facets ?? []) as unknown as Facet[]
}

/**
 * The facets of a post: RichText's detection, then each mention resolved to
 * a DID with `resolve`. Mentions that do not resolve are dropped (the text
 * stays, it is just not a link), as the Bluesky app does.
 */
export async function buildFacets(text: string, resolve: Resolver): Promise<FacetResult> {
  const out: FacetResult = { facets: [], links: [], tags: [], mentions: [] }
  const detected = detectFacets(text)
  const handles = new Set<string>()
  for (const f of detected)
    for (const feat of f.features) if (feat.$type === MENTION && feat.did) handles.add(feat.did)
  const resolved = new Map<string, string | null>()
  await Promise.all(
    [...handles].map(async (h) => {
      let did: string | null = null
      try {
        did = await resolve(h)
      } catch {
        did = null
      }
      resolved.set(h, did && did.startsWith('did:') ? did : null)
    }),
  )
  for (const f of detected) {
    const features: FacetFeature[] = []
    for (const feat of f.features) {
      if (feat.$type === MENTION) {
        const handle = feat.did ?? ''
        const did = resolved.get(handle) ?? null
        out.mentions.push({ handle, did })
        if (did) features.push({ ...feat, did })
      } else {
        if (feat.$type === LINK && feat.uri) out.links.push(feat.uri)
        if (feat.$type === TAG && feat.tag) out.tags.push(feat.tag)
        features.push({ ...feat })
      }
    }
    if (features.length) out.facets.push({ ...f, features })
  }
  return out
}

/**
 * A resolver that asks the local PDS (com.atproto.identity.resolveHandle),
 * remembering answers. Handles that fail are retried after `retryMs`.
 */
export function localResolver(
  baseURL: () => string,
  fetchFn: typeof fetch = (...a) => fetch(...a),
  timeoutMs = 4000,
  retryMs = 30000,
): Resolver {
  const cache = new Map<string, { did: string | null; at: number }>()
  return async (handle: string) => {
    const key = handle.toLowerCase()
    const hit = cache.get(key)
    if (hit && (hit.did || Date.now() - hit.at < retryMs)) return hit.did
    const base = baseURL()
    if (!base) return null
    let did: string | null = null
    try {
      const ctl = new AbortController()
      const timer = setTimeout(() => ctl.abort(), timeoutMs)
      try {
        const res = await fetchFn(
          `${base.replace(/\/$/, '')}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(key)}`,
          { signal: ctl.signal },
        )
        if (res.ok) {
          const body = (await res.json()) as { did?: unknown }
          if (typeof body.did === 'string' && body.did.startsWith('did:')) did = body.did
        }
      } finally {
        clearTimeout(timer)
      }
    } catch {
      did = null
    }
    cache.set(key, { did, at: Date.now() })
    return did
  }
}

export interface TextSegment {
  text: string
  link?: string
  mention?: string
  tag?: string
}

/** A post's text cut at its facets, for display (links clickable). */
export function segments(text: string, facets: unknown): TextSegment[] {
  const list = Array.isArray(facets) ? (facets as Facet[]) : undefined
  let rt: RichText
  try {
    rt = new RichText({ text, facets: list as never })
  } catch {
    return [{ text }]
  }
  const out: TextSegment[] = []
  for (const s of rt.segments()) {
    const seg: TextSegment = { text: s.text }
    if (s.link?.uri) seg.link = s.link.uri
    if (s.mention?.did) seg.mention = s.mention.did
    if (s.tag?.tag) seg.tag = s.tag.tag
    out.push(seg)
  }
  return out
}
