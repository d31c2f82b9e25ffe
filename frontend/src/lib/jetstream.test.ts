import { describe, expect, it } from 'vitest'
import { subscribeURL, summarize } from './jetstream'

describe('subscribeURL', () => {
  const base = 'ws://localhost:2583/subscribe'
  it('is the bare URL without filters', () => {
    expect(subscribeURL(base, { collections: ' ', dids: '', cursor: '' })).toBe(base)
  })
  it('repeats wantedCollections and wantedDids, keeps wildcards, sets the cursor', () => {
    const u = new URL(
      subscribeURL(base, { collections: 'app.bsky.feed.*, app.bsky.graph.follow', dids: 'did:plc:a did:plc:b', cursor: ' 1700000000000000 ' }),
    )
    expect(u.searchParams.getAll('wantedCollections')).toEqual(['app.bsky.feed.*', 'app.bsky.graph.follow'])
    expect(u.searchParams.getAll('wantedDids')).toEqual(['did:plc:a', 'did:plc:b'])
    expect(u.searchParams.get('cursor')).toBe('1700000000000000')
  })
})

describe('summarize', () => {
  it('reads a commit', () => {
    const raw = '{"did":"did:plc:a","time_us":5,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"app.bsky.feed.post","rkey":"3k","record":{},"cid":"b"}}'
    expect(summarize(raw)).toMatchObject({ did: 'did:plc:a', timeUS: 5, kind: 'commit', what: 'create app.bsky.feed.post/3k' })
  })
  it('reads identity and account messages', () => {
    expect(summarize('{"did":"d","time_us":1,"kind":"identity","identity":{"did":"d","handle":"me.test","seq":1,"time":"t"}}')?.what).toBe('@me.test')
    expect(summarize('{"did":"d","time_us":1,"kind":"account","account":{"active":false,"did":"d","seq":2,"status":"deactivated","time":"t"}}')?.what).toBe(
      'deactivated',
    )
  })
  it('refuses what is not a message', () => {
    expect(summarize('nope')).toBeNull()
    expect(summarize('{"kind":"commit"}')).toBeNull()
  })
})
