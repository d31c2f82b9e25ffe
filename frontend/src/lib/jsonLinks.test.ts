import { describe, expect, it } from 'vitest'
import { blobRefs, linkify } from './jsonLinks'

const post = {
  $type: 'app.bsky.feed.post',
  text: 'hello https://example.com',
  createdAt: '2026-01-01T00:00:00.000Z',
  embed: {
    $type: 'app.bsky.embed.images',
    images: [
      {
        alt: 'a cat',
        image: {
          $type: 'blob',
          ref: { $link: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' },
          mimeType: 'image/png',
          size: 1234,
        },
      },
    ],
  },
  reply: {
    root: { uri: 'at://did:plc:abc/app.bsky.feed.post/3kroot', cid: 'bafyreiroot2222222222222222222222222222222222222222222' },
    parent: { uri: 'at://did:plc:abc/app.bsky.feed.post/3kparent', cid: 'bafyreiparent22222222222222222222222222222222222222222' },
  },
  facets: [
    { index: { byteStart: 6, byteEnd: 25 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' }] },
    { index: { byteStart: 0, byteEnd: 1 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: 'did:plc:bob' }] },
  ],
  other: { $link: 'bafyreiother22222222222222222222222222222222222222222' },
}
const json = JSON.stringify(post, null, 2)

describe('record JSON links', () => {
  const pieces = linkify(json)
  const links = pieces.filter((p) => p.kind)

  it('keeps the text exactly', () => {
    expect(pieces.map((p) => p.text).join('')).toBe(json)
  })

  it('links AT-URIs to records', () => {
    const at = links.filter((p) => p.kind === 'aturi').map((p) => p.target)
    expect(at).toEqual(['at://did:plc:abc/app.bsky.feed.post/3kroot', 'at://did:plc:abc/app.bsky.feed.post/3kparent'])
  })

  it('links a blob ref CID to the blob', () => {
    const b = links.filter((p) => p.kind === 'blob')
    expect(b).toHaveLength(1)
    expect(b[0].target).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    expect(b[0].text).toBe('"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"')
  })

  it('links a strong ref CID to the record it names', () => {
    const r = links.filter((p) => p.kind === 'record-cid')
    expect(r.map((p) => p.target)).toEqual([
      'at://did:plc:abc/app.bsky.feed.post/3kroot',
      'at://did:plc:abc/app.bsky.feed.post/3kparent',
    ])
  })

  it('marks web links, DIDs and other CIDs', () => {
    expect(links.find((p) => p.kind === 'url')?.target).toBe('https://example.com')
    expect(links.find((p) => p.kind === 'did')?.target).toBe('did:plc:bob')
    expect(links.find((p) => p.kind === 'cid')?.target).toBe('bafyreiother22222222222222222222222222222222222222222')
  })

  it('never links keys, and leaves plain strings alone', () => {
    expect(pieces.filter((p) => p.cls === 'key' && p.kind)).toEqual([])
    expect(pieces.find((p) => p.text === '"a cat"')?.kind).toBeUndefined()
    expect(pieces.find((p) => p.text === '"hello https://example.com"')?.kind).toBeUndefined()
    expect(pieces.find((p) => p.text === '1234')?.cls).toBe('number')
  })

  it('handles escapes and non-JSON', () => {
    const j = JSON.stringify({ text: 'say "at://x" \\ ok', uri: 'at://did:plc:z/a.b.c/1' })
    const ps = linkify(j)
    expect(ps.map((p) => p.text).join('')).toBe(j)
    expect(ps.filter((p) => p.kind === 'aturi')).toHaveLength(1)
    expect(linkify('not json')).toEqual([{ text: 'not json' }])
  })

  it('lists the blobs a record uses', () => {
    expect(blobRefs(json)).toEqual(['bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'])
    expect(blobRefs('{')).toEqual([])
  })
})
