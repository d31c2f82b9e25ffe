// Cross-implementation check: the official TypeScript client (@atproto/api)
// against a live hearthd. scripts/test-ts.sh starts the server and sets:
//   HEARTH_URL       the server's URL (e.g. http://localhost:2583)
//   HEARTH_HANDLE    an existing account's handle
//   HEARTH_PASSWORD  its password
//   HEARTH_DID       (optional) the DID `hearthd account create` printed
//
//   HEARTH_APPVIEW_PORT / HEARTH_APPVIEW_DID  a fake AppView this test runs,
//                    which hearthd proxies app.bsky.* to (--appview-url/-did)
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { deflateSync } from 'node:zlib'
import { createServer } from 'node:http'
import { AtpAgent, RichText, BlobRef, XRPCError } from '@atproto/api'

const URL_ = need('HEARTH_URL')
const HANDLE = need('HEARTH_HANDLE')
const PASSWORD = need('HEARTH_PASSWORD')
const EXPECTED_DID = process.env.HEARTH_DID || undefined

function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} must be set (scripts/test-ts.sh sets it)`)
  return v
}

const POST = 'app.bsky.feed.post'

// One agent shared by the tests, in file order (node:test runs top-level
// tests sequentially).
const agent = new AtpAgent({ service: URL_ })
const state = {}

// ---- helpers --------------------------------------------------------------

function rkeyOf(uri) {
  const parts = uri.split('/')
  return parts[parts.length - 1]
}

function jwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
}

// A valid 1x1 RGBA PNG (one opaque orange pixel), built here so the bytes are
// real PNG with correct CRCs.
function tinyPng() {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c
  })
  const crc32 = (buf) => {
    let c = -1
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ -1) >>> 0
  }
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(td))
    return Buffer.concat([len, td, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(1, 0) // width
  ihdr.writeUInt32BE(1, 4) // height
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // colour type RGBA
  const raw = Buffer.from([0, 0xff, 0x88, 0x00, 0xff]) // filter 0 + one pixel
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

async function getPost(rkey) {
  const res = await agent.com.atproto.repo.getRecord({ repo: agent.did, collection: POST, rkey })
  return res.data
}

async function expectXrpcError(promise, name, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof XRPCError, `expected an XRPCError, got ${err?.constructor?.name}: ${err}`)
    assert.equal(err.error, name, `error ${err.error} (${err.message}), want ${name}`)
    if (status !== undefined) assert.equal(err.status, status, 'HTTP status')
    return true
  }, `the call succeeded; want error ${name}`)
}

before(async () => {
  const res = await fetch(new URL('/xrpc/_health', URL_))
  assert.equal(res.status, 200, 'server health check')
})

// ---- tests ----------------------------------------------------------------

test('login with AtpAgent', async () => {
  const res = await agent.login({ identifier: HANDLE, password: PASSWORD })
  assert.equal(res.success, true)
  assert.ok(agent.session, 'agent has a session')
  assert.match(agent.session.did, /^did:plc:[a-z2-7]{24}$/)
  if (EXPECTED_DID) assert.equal(agent.session.did, EXPECTED_DID)
  assert.equal(agent.session.handle, HANDLE)
  assert.equal(agent.did, agent.session.did)
  assert.equal(typeof agent.session.accessJwt, 'string')
  assert.equal(typeof agent.session.refreshJwt, 'string')
  assert.equal(agent.session.active, true)
  // The DID document in the session names this server as the PDS, and the
  // agent now talks to that endpoint.
  assert.equal(res.data.didDoc?.id, agent.session.did)
  assert.ok(agent.pdsUrl, 'agent picked the PDS endpoint from the DID document')
  assert.equal(agent.pdsUrl.origin, new URL(URL_).origin)

  const sess = await agent.com.atproto.server.getSession()
  assert.equal(sess.data.did, agent.session.did)
  assert.equal(sess.data.handle, HANDLE)
})

test('login with a wrong password fails with AuthenticationRequired', async () => {
  const other = new AtpAgent({ service: URL_ })
  await expectXrpcError(other.login({ identifier: HANDLE, password: PASSWORD + 'x' }), 'AuthenticationRequired', 401)
  assert.equal(other.session, undefined)
})

test('resolveHandle finds the account', async () => {
  const res = await agent.com.atproto.identity.resolveHandle({ handle: HANDLE })
  assert.equal(res.data.did, agent.did)
  // An unknown handle does not resolve. (The reference PDS answers
  // InvalidRequest after trying DNS/HTTPS for handles outside its own
  // domains; only the status is checked here.)
  await assert.rejects(agent.com.atproto.identity.resolveHandle({ handle: 'nobody-here.test' }), (err) => {
    assert.ok(err instanceof XRPCError, String(err))
    assert.equal(err.status, 400)
    return true
  })
})

test('post with RichText facets (link, mention, tag)', async () => {
  const text = `hello @${HANDLE} see https://example.com #hearth`
  const rt = new RichText({ text })
  await rt.detectFacets(agent)
  assert.equal(rt.facets?.length, 3, 'three facets detected')

  const res = await agent.post({ text: rt.text, facets: rt.facets, langs: ['en'] })
  assert.match(res.uri, new RegExp(`^at://${agent.did}/${POST}/[a-z2-7]{13}$`))
  assert.match(res.cid, /^bafyrei[a-z2-7]+$/)
  state.textPost = res

  const rec = await getPost(rkeyOf(res.uri))
  assert.equal(rec.uri, res.uri)
  assert.equal(rec.cid, res.cid)
  assert.equal(rec.value.$type, POST)
  assert.equal(rec.value.text, text)
  assert.deepEqual(rec.value.langs, ['en'])
  assert.ok(!Number.isNaN(Date.parse(rec.value.createdAt)), 'createdAt is a datetime')

  const facets = rec.value.facets
  assert.equal(facets.length, 3)
  const bytes = Buffer.from(text, 'utf8')
  const slice = (f) => bytes.subarray(f.index.byteStart, f.index.byteEnd).toString('utf8')
  const byType = {}
  for (const f of facets) {
    assert.equal(f.features.length, 1)
    byType[f.features[0].$type] = f
  }
  const mention = byType['app.bsky.richtext.facet#mention']
  assert.ok(mention, 'mention facet stored')
  assert.equal(mention.features[0].did, agent.did, 'mention resolved to our DID via resolveHandle')
  assert.equal(slice(mention), `@${HANDLE}`)
  const link = byType['app.bsky.richtext.facet#link']
  assert.ok(link, 'link facet stored')
  assert.equal(link.features[0].uri, 'https://example.com')
  assert.equal(slice(link), 'https://example.com')
  const tag = byType['app.bsky.richtext.facet#tag']
  assert.ok(tag, 'tag facet stored')
  assert.equal(tag.features[0].tag, 'hearth')
  assert.equal(slice(tag), '#hearth')
  // The stored record is exactly what the client sent.
  assert.deepEqual(facets, JSON.parse(JSON.stringify(rt.facets)))
})

test('upload a PNG, embed it as images, read it back and fetch the blob', async () => {
  const png = tinyPng()
  const up = await agent.uploadBlob(new Uint8Array(png), { encoding: 'image/png' })
  const blob = up.data.blob
  assert.ok(blob instanceof BlobRef, 'uploadBlob returns a BlobRef')
  assert.equal(blob.mimeType, 'image/png')
  assert.equal(blob.size, png.length)
  const cid = blob.ref.toString()
  assert.match(cid, /^bafkrei[a-z2-7]+$/, 'raw-codec sha256 CID')
  state.blob = blob

  const alt = 'one orange pixel'
  const res = await agent.post({
    text: 'a picture',
    embed: {
      $type: 'app.bsky.embed.images',
      images: [{ image: blob, alt, aspectRatio: { width: 1, height: 1 } }],
    },
  })
  state.imagePost = res

  const rec = await getPost(rkeyOf(res.uri))
  assert.equal(rec.cid, res.cid)
  const embed = rec.value.embed
  assert.equal(embed.$type, 'app.bsky.embed.images')
  assert.equal(embed.images.length, 1)
  assert.equal(embed.images[0].alt, alt)
  assert.deepEqual(embed.images[0].aspectRatio, { width: 1, height: 1 })
  const img = embed.images[0].image
  // The client decodes {$type: blob, ref: {$link}} back into a BlobRef.
  assert.ok(img instanceof BlobRef, `stored image is a blob ref (${JSON.stringify(img)})`)
  assert.equal(img.ref.toString(), cid)
  assert.equal(img.mimeType, 'image/png')
  assert.equal(img.size, png.length)

  // Through the client…
  const got = await agent.com.atproto.sync.getBlob({ did: agent.did, cid })
  assert.deepEqual(Buffer.from(got.data), png, 'blob bytes via the client')
  assert.match(got.headers['content-type'] ?? '', /^image\/png/)

  // …and raw, to see the headers exactly.
  const u = new URL('/xrpc/com.atproto.sync.getBlob', URL_)
  u.searchParams.set('did', agent.did)
  u.searchParams.set('cid', cid)
  const raw = await fetch(u)
  assert.equal(raw.status, 200)
  assert.equal(raw.headers.get('content-type'), 'image/png')
  assert.equal(raw.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(Number(raw.headers.get('content-length')), png.length)
  assert.deepEqual(Buffer.from(await raw.arrayBuffer()), png, 'blob bytes via fetch')

  const blobs = await agent.com.atproto.sync.listBlobs({ did: agent.did })
  assert.ok(blobs.data.cids.includes(cid), 'listBlobs has the blob')
})

// The reference checks a record's blob refs against the stored blob with
// these error names (packages/pds/src/actor-store/blob/transactor.ts:
// BlobNotFound, and verifyBlob's InvalidMimeType / InvalidSize).
async function postWithImage(image) {
  return agent.com.atproto.repo.createRecord({
    repo: agent.did,
    collection: POST,
    record: {
      $type: POST,
      text: 'blob ref check',
      createdAt: new Date().toISOString(),
      embed: { $type: 'app.bsky.embed.images', images: [{ image, alt: '' }] },
    },
  })
}

test('blob ref to a blob never uploaded is BlobNotFound', async (t) => {
  const { blob } = state
  assert.ok(blob, 'the upload test ran')
  // sha256("hello") as a raw CID: never uploaded in this run.
  const missing = blob.ref.constructor.parse('bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq')
  await expectXrpcError(postWithImage(new BlobRef(missing, 'image/png', 5)), 'BlobNotFound', 400)
})

test('blob ref with the wrong size is InvalidSize', async (t) => {
  const { blob } = state
  assert.ok(blob, 'the upload test ran')
  await expectXrpcError(postWithImage(new BlobRef(blob.ref, blob.mimeType, blob.size + 1)), 'InvalidSize', 400)
})

test('blob ref with the wrong mimeType is InvalidMimeType', async (t) => {
  const { blob } = state
  assert.ok(blob, 'the upload test ran')
  await expectXrpcError(postWithImage(new BlobRef(blob.ref, 'image/jpeg', blob.size)), 'InvalidMimeType', 400)
})

test('listRecords finds both posts; deleteRecord removes one', async () => {
  const { textPost, imagePost } = state
  assert.ok(textPost && imagePost, 'earlier tests made the posts')

  const list = await agent.com.atproto.repo.listRecords({ repo: agent.did, collection: POST, limit: 100 })
  const uris = list.data.records.map((r) => r.uri)
  assert.ok(uris.includes(textPost.uri), 'text post listed')
  assert.ok(uris.includes(imagePost.uri), 'image post listed')
  for (const r of list.data.records) {
    assert.equal(typeof r.cid, 'string')
    assert.equal(r.value.$type, POST)
  }
  const byUri = Object.fromEntries(list.data.records.map((r) => [r.uri, r]))
  assert.equal(byUri[textPost.uri].cid, textPost.cid)
  assert.equal(byUri[imagePost.uri].cid, imagePost.cid)

  // The listing by handle works too.
  const byHandle = await agent.com.atproto.repo.listRecords({ repo: HANDLE, collection: POST })
  assert.deepEqual(byHandle.data.records.map((r) => r.uri).sort(), [...uris].sort())

  const desc = await agent.com.atproto.repo.describeRepo({ repo: agent.did })
  assert.equal(desc.data.did, agent.did)
  assert.equal(desc.data.handle, HANDLE)
  assert.ok(desc.data.collections.includes(POST))

  // agent.deletePost is com.atproto.repo.deleteRecord underneath.
  await agent.deletePost(textPost.uri)
  await expectXrpcError(getPost(rkeyOf(textPost.uri)), 'RecordNotFound', 400)

  const after = await agent.com.atproto.repo.listRecords({ repo: agent.did, collection: POST })
  const afterUris = after.data.records.map((r) => r.uri)
  assert.ok(!afterUris.includes(textPost.uri), 'deleted post no longer listed')
  assert.ok(afterUris.includes(imagePost.uri), 'other post still listed')

  // Deleting via the raw method with swapRecord of the wrong CID is refused…
  await expectXrpcError(
    agent.com.atproto.repo.deleteRecord({
      repo: agent.did,
      collection: POST,
      rkey: rkeyOf(imagePost.uri),
      swapRecord: textPost.cid,
    }),
    'InvalidSwap',
    400,
  )
  // …and the image post is still there.
  assert.equal((await getPost(rkeyOf(imagePost.uri))).cid, imagePost.cid)
})

test('session refresh: writes keep working; a rotated token works once within the grace period', async () => {
  const before = { ...agent.session }

  // Refresh through the agent (what it does itself on ExpiredToken).
  await agent.sessionManager.refreshSession()
  const first = { ...agent.session }
  assert.equal(first.did, before.did)
  assert.equal(first.handle, HANDLE)
  // (The access token may be byte-identical: like the reference PDS's, it has
  // no jti and iat has one-second resolution.)
  assert.equal(jwtPayload(first.accessJwt).sub, before.did)
  assert.notEqual(first.refreshJwt, before.refreshJwt, 'new refresh token')
  assert.notEqual(jwtPayload(first.refreshJwt).jti, jwtPayload(before.refreshJwt).jti, 'refresh token rotated')

  // A write after the refresh uses the new access token.
  const res = await agent.post({ text: 'after refresh' })
  assert.equal((await getPost(rkeyOf(res.uri))).value.text, 'after refresh')
  state.afterRefresh = res

  // The explicit XRPC method with the (new) refresh token.
  const again = await agent.com.atproto.server.refreshSession(undefined, {
    headers: { authorization: `Bearer ${first.refreshJwt}` },
  })
  assert.equal(again.data.did, before.did)
  assert.equal(again.data.handle, HANDLE)
  assert.equal(again.data.didDoc?.id, before.did)
  assert.notEqual(jwtPayload(again.data.refreshJwt).jti, jwtPayload(first.refreshJwt).jti)

  // The original (already rotated) token is still accepted within the grace
  // period and leads to the same successor it was rotated to first.
  const reuse = await agent.com.atproto.server.refreshSession(undefined, {
    headers: { authorization: `Bearer ${before.refreshJwt}` },
  })
  assert.equal(reuse.data.did, before.did)
  assert.equal(jwtPayload(reuse.data.refreshJwt).jti, jwtPayload(first.refreshJwt).jti, 'same successor within the grace period')

  // A fresh agent resumed from the newest tokens can still write.
  const resumed = new AtpAgent({ service: URL_ })
  await resumed.resumeSession({
    ...first,
    accessJwt: again.data.accessJwt,
    refreshJwt: again.data.refreshJwt,
  })
  assert.equal(resumed.did, before.did)
  const w = await resumed.com.atproto.repo.createRecord({
    repo: resumed.did,
    collection: POST,
    record: { $type: POST, text: 'from a resumed session', createdAt: new Date().toISOString() },
  })
  assert.match(w.data.uri, new RegExp(`^at://${before.did}/`))
  await resumed.com.atproto.repo.deleteRecord({ repo: resumed.did, collection: POST, rkey: rkeyOf(w.data.uri) })
  await expectXrpcError(getPost(rkeyOf(w.data.uri)), 'RecordNotFound', 400)

  // Garbage is rejected with the error names the client acts on.
  await expectXrpcError(
    agent.com.atproto.server.refreshSession(undefined, { headers: { authorization: 'Bearer not-a-jwt' } }),
    'InvalidToken',
    400,
  )
  // An access token is not a refresh token.
  await expectXrpcError(
    agent.com.atproto.server.refreshSession(undefined, {
      headers: { authorization: `Bearer ${agent.session.accessJwt}` },
    }),
    'InvalidToken',
    400,
  )
})

test('invalid record: post text over 300 graphemes is InvalidRecord', async () => {
  const record = { $type: POST, text: 'a'.repeat(301), createdAt: new Date().toISOString() }
  await expectXrpcError(
    agent.com.atproto.repo.createRecord({ repo: agent.did, collection: POST, record }),
    'InvalidRecord',
    400,
  )
  // Exactly 300 graphemes (multi-byte ones, under the 3000-byte limit) is fine.
  const ok = await agent.com.atproto.repo.createRecord({
    repo: agent.did,
    collection: POST,
    record: { ...record, text: 'é'.repeat(300) },
  })
  assert.equal((await getPost(rkeyOf(ok.data.uri))).value.text, 'é'.repeat(300))
  // A missing required field is InvalidRecord too.
  await expectXrpcError(
    agent.com.atproto.repo.createRecord({ repo: agent.did, collection: POST, record: { $type: POST, text: 'no date' } }),
    'InvalidRecord',
    400,
  )
})

test('unauthenticated writes are refused', async () => {
  const anon = new AtpAgent({ service: URL_ })
  await expectXrpcError(
    anon.com.atproto.repo.createRecord({
      repo: agent.did,
      collection: POST,
      record: { $type: POST, text: 'nope', createdAt: new Date().toISOString() },
    }),
    'AuthMissing',
    401,
  )
})

test('logout revokes the refresh token', async () => {
  const refreshJwt = agent.session.refreshJwt
  await agent.logout()
  assert.equal(agent.session, undefined)
  await expectXrpcError(
    agent.com.atproto.server.refreshSession(undefined, { headers: { authorization: `Bearer ${refreshJwt}` } }),
    'ExpiredToken',
    400,
  )
})

// ---- AppView proxying -------------------------------------------------------
// A fake AppView on loopback: it records each request's service-auth JWT
// claims and answers like the real one. (The Go tests verify the ES256K
// signature with indigo's validator; here we check what the official client
// gets through Hearth.)
const appviewSeen = []
let appview
before(async () => {
  appview = createServer((req, res) => {
    const auth = req.headers.authorization || ''
    const claims = auth.startsWith('Bearer ') ? jwtPayload(auth.slice(7)) : null
    const header = auth.startsWith('Bearer ') ? JSON.parse(Buffer.from(auth.slice(7).split('.')[0], 'base64url').toString()) : null
    const nsid = new URL(req.url, 'http://x').pathname.replace('/xrpc/', '')
    appviewSeen.push({ nsid, claims, header, labelers: req.headers['atproto-accept-labelers'] })
    res.setHeader('content-type', 'application/json')
    if (nsid === 'app.bsky.actor.getProfile') {
      res.end(JSON.stringify({ did: claims?.iss, handle: HANDLE, displayName: 'From the fake AppView' }))
    } else if (nsid === 'app.bsky.feed.getTimeline') {
      res.end(JSON.stringify({ feed: [] }))
    } else {
      res.statusCode = 501
      res.end(JSON.stringify({ error: 'MethodNotImplemented' }))
    }
  })
  await new Promise((resolve) => appview.listen(Number(need('HEARTH_APPVIEW_PORT')), '127.0.0.1', resolve))
})

test('getProfile and getTimeline go through Hearth to the AppView with service auth', async () => {
  if (!agent.session) {
    await agent.login({ identifier: HANDLE, password: PASSWORD })
  }
  const prof = await agent.getProfile({ actor: HANDLE })
  assert.equal(prof.data.displayName, 'From the fake AppView')
  const tl = await agent.getTimeline({ limit: 5 })
  assert.deepEqual(tl.data.feed, [])
  // Service auth is for the bare DID (no #fragment), as the reference PDS.
  const aud = need('HEARTH_APPVIEW_DID').split('#')[0]
  for (const [i, nsid] of ['app.bsky.actor.getProfile', 'app.bsky.feed.getTimeline'].entries()) {
    const seen = appviewSeen[appviewSeen.length - 2 + i]
    assert.equal(seen.nsid, nsid)
    assert.equal(seen.header.alg, 'ES256K')
    assert.equal(seen.claims.iss, agent.session.did)
    assert.equal(seen.claims.aud, aud)
    assert.equal(seen.claims.lxm, nsid)
    assert.ok(seen.claims.jti, 'jti set')
    const ttl = seen.claims.exp - seen.claims.iat
    assert.ok(ttl > 0 && ttl <= 120, `exp about 60 s after iat (got ${ttl})`)
  }
  appview.close()
})
