import { describe, expect, it } from 'vitest'
import { atURI, isATURI, opTarget, parseATURI } from './aturi'
import { screenFromHash } from './state.svelte'

describe('AT-URIs', () => {
  it('parses and builds', () => {
    const u = 'at://did:plc:abc123/app.bsky.feed.post/3kabc'
    expect(parseATURI(u)).toEqual({ did: 'did:plc:abc123', collection: 'app.bsky.feed.post', rkey: '3kabc' })
    expect(atURI('did:plc:abc123', 'app.bsky.feed.post', '3kabc')).toBe(u)
    expect(isATURI(u)).toBe(true)
    expect(isATURI('at://did:plc:abc123')).toBe(false)
    expect(parseATURI('https://example.com')).toBeNull()
    expect(parseATURI(' at://did:plc:x/c.o.l ')).toEqual({ did: 'did:plc:x', collection: 'c.o.l', rkey: '' })
  })

  it('turns event-log ops into record links', () => {
    expect(opTarget('create app.bsky.feed.post/3k1', 'did:plc:a')).toEqual({
      action: 'create',
      path: 'app.bsky.feed.post/3k1',
      uri: 'at://did:plc:a/app.bsky.feed.post/3k1',
    })
    expect(opTarget('weird', 'did:plc:a')).toEqual({ action: 'weird', path: '', uri: '' })
  })

  it('maps URL hashes to screens', () => {
    expect(screenFromHash('#blobs')).toBe('blobs')
    expect(screenFromHash('#/repo')).toBe('repo')
    expect(screenFromHash('#nope')).toBeNull()
    expect(screenFromHash('')).toBeNull()
  })
})
