import { describe, expect, it, vi } from 'vitest'
import {
  buildFacets,
  detectFacets,
  graphemeCount,
  limitState,
  LINK,
  localResolver,
  MENTION,
  POST_LIMIT,
  postBlocker,
  segments,
  TAG,
} from './post'

const utf8 = (s: string) => new TextEncoder().encode(s)
const slice = (text: string, f: { index: { byteStart: number; byteEnd: number } }) =>
  new TextDecoder().decode(utf8(text).slice(f.index.byteStart, f.index.byteEnd))

describe('grapheme counting', () => {
  it('counts what a person sees as characters', () => {
    expect(graphemeCount('')).toBe(0)
    expect(graphemeCount('hello')).toBe(5)
    expect(graphemeCount('👍🏽')).toBe(1) // emoji + skin tone modifier
    expect(graphemeCount('👨‍👩‍👧‍👦')).toBe(1) // family ZWJ sequence
    expect(graphemeCount('🇫🇷')).toBe(1) // flag
    expect(graphemeCount('é')).toBe(1) // e + combining acute
    expect(graphemeCount('日本語')).toBe(3)
  })

  it('tracks the 300 limit with warn and over levels', () => {
    expect(POST_LIMIT).toBe(300)
    expect(limitState('a'.repeat(10))).toMatchObject({ count: 10, remaining: 290, level: 'ok' })
    expect(limitState('a'.repeat(280)).level).toBe('warn')
    expect(limitState('a'.repeat(300))).toMatchObject({ remaining: 0, level: 'warn', fraction: 1 })
    expect(limitState('a'.repeat(301))).toMatchObject({ remaining: -1, level: 'over', fraction: 1 })
    // 300 emoji are 300 graphemes even though they are 600+ UTF-16 units
    expect(limitState('😀'.repeat(300)).level).toBe('warn')
    expect(limitState('👍🏽'.repeat(301)).level).toBe('over')
  })

  it('says why a post cannot be sent', () => {
    expect(postBlocker('', 0)).toMatch(/Write something/)
    expect(postBlocker('   \n', 0)).toMatch(/Write something/)
    expect(postBlocker('', 1)).toBeNull() // an image alone is a post
    expect(postBlocker('hi', 0)).toBeNull()
    expect(postBlocker('x'.repeat(302), 0)).toBe('The post is 2 characters too long (the limit is 300).')
    expect(postBlocker('x'.repeat(301), 0)).toMatch(/1 character too long/)
  })
})

describe('facets', () => {
  const text = 'Hi @bob.test and @nobody.test, see https://example.com/x. #hearth ✨ example.org'

  it('detects links, mentions and tags with UTF-8 byte offsets', () => {
    const fs = detectFacets(text)
    const kinds = fs.map((f) => f.features[0].$type)
    expect(kinds.filter((k) => k === MENTION)).toHaveLength(2)
    const link = fs.find((f) => f.features[0].uri === 'https://example.com/x')!
    expect(slice(text, link)).toBe('https://example.com/x')
    const tag = fs.find((f) => f.features[0].$type === TAG)!
    expect(slice(text, tag)).toBe('#hearth')
    // a bare domain becomes an https link
    expect(fs.some((f) => f.features[0].uri === 'https://example.org')).toBe(true)
  })

  it('resolves mentions to DIDs and drops those that do not resolve', async () => {
    const resolve = vi.fn(async (h: string) => (h === 'bob.test' ? 'did:plc:bob' : null))
    const r = await buildFacets(text, resolve)
    expect(r.mentions).toEqual([
      { handle: 'bob.test', did: 'did:plc:bob' },
      { handle: 'nobody.test', did: null },
    ])
    const mentions = r.facets.filter((f) => f.features[0].$type === MENTION)
    expect(mentions).toHaveLength(1)
    expect(mentions[0].features[0].did).toBe('did:plc:bob')
    expect(slice(text, mentions[0])).toBe('@bob.test')
    expect(r.links).toEqual(['https://example.com/x', 'https://example.org'])
    expect(r.tags).toEqual(['hearth'])
    expect(r.facets.every((f) => f.features.every((x) => x.$type !== MENTION || x.did!.startsWith('did:')))).toBe(true)
  })

  it('asks once per handle and survives a resolver that throws or lies', async () => {
    const resolve = vi.fn(async (h: string) => {
      if (h === 'a.test') throw new Error('network down')
      return 'not-a-did'
    })
    const r = await buildFacets('@a.test @b.test @b.test', resolve)
    expect(resolve).toHaveBeenCalledTimes(2)
    expect(r.facets).toEqual([])
    expect(r.mentions.map((m) => m.did)).toEqual([null, null, null])
  })

  it('has no facets for plain text', async () => {
    const r = await buildFacets('just words', async () => null)
    expect(r.facets).toEqual([])
  })

  it('resolves through the local PDS and caches', async () => {
    const fetchFn = vi.fn(async (url: string | URL | Request) => {
      const u = new URL(String(url))
      expect(u.pathname).toBe('/xrpc/com.atproto.identity.resolveHandle')
      const h = u.searchParams.get('handle')
      if (h === 'alice.test') return new Response(JSON.stringify({ did: 'did:plc:alice' }), { status: 200 })
      return new Response(JSON.stringify({ error: 'HandleNotFound' }), { status: 400 })
    }) as unknown as typeof fetch
    const resolve = localResolver(() => 'http://localhost:1234/', fetchFn)
    expect(await resolve('Alice.Test')).toBe('did:plc:alice')
    expect(await resolve('alice.test')).toBe('did:plc:alice')
    expect(await resolve('ghost.test')).toBeNull()
    expect(await resolve('ghost.test')).toBeNull()
    expect(fetchFn).toHaveBeenCalledTimes(2)
    expect(await localResolver(() => '', fetchFn)('x.test')).toBeNull()
  })

  it('cuts a post into display segments at its facets', async () => {
    const t = 'go to https://example.com now'
    const r = await buildFacets(t, async () => null)
    const segs = segments(t, r.facets)
    expect(segs.map((s) => s.text).join('')).toBe(t)
    expect(segs.find((s) => s.link)).toEqual({ text: 'https://example.com', link: 'https://example.com' })
    expect(segments('plain', undefined)).toEqual([{ text: 'plain' }])
    expect(LINK).toBe('app.bsky.richtext.facet#link')
  })
})
