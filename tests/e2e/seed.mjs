// Fills a running Hearth with a few realistic records for the screenshots,
// through its own XRPC API (the same write path as the window), and saves
// a CAR of the repository (for the import dialog).
//
//   node seed.mjs PDS_URL HANDLE PASSWORD OUT.car
import fs from 'node:fs'
import { hills, sea, sunset } from './png.mjs'

const [base, handle, password, carPath] = process.argv.slice(2)
if (!carPath) {
  console.error('usage: node seed.mjs PDS_URL HANDLE PASSWORD OUT.car')
  process.exit(2)
}

async function xrpc(method, { body, query, token, raw, type } = {}) {
  const url = new URL(`/xrpc/${method}`, base)
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v)
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  let payload
  if (raw) {
    payload = raw
    headers['content-type'] = type
  } else if (body) {
    payload = JSON.stringify(body)
    headers['content-type'] = 'application/json'
  }
  const res = await fetch(url, { method: payload ? 'POST' : 'GET', headers, body: payload })
  if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`)
  const ct = res.headers.get('content-type') ?? ''
  return ct.includes('json') ? res.json() : Buffer.from(await res.arrayBuffer())
}

const enc = new TextEncoder()
/** A facet for the first occurrence of `part` in `text`. */
function facet(text, part, feature) {
  const i = text.indexOf(part)
  if (i < 0) throw new Error(`"${part}" not in text`)
  const byteStart = enc.encode(text.slice(0, i)).length
  return { index: { byteStart, byteEnd: byteStart + enc.encode(part).length }, features: [feature] }
}

const s = await xrpc('com.atproto.server.createSession', { body: { identifier: handle, password } })
const { accessJwt: token, did } = s
const upload = async (bytes) => (await xrpc('com.atproto.repo.uploadBlob', { raw: bytes, type: 'image/png', token })).blob
const post = async (record) =>
  xrpc('com.atproto.repo.createRecord', {
    token,
    body: { repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', createdAt: new Date().toISOString(), langs: ['en'], ...record } },
  })

const text1 = 'My own PDS now runs on this laptop: posts, images and keys live in a folder I own. How it works: https://atproto.com #localfirst'
const p1 = await post({
  text: text1,
  facets: [
    facet(text1, 'https://atproto.com', { $type: 'app.bsky.richtext.facet#link', uri: 'https://atproto.com' }),
    facet(text1, '#localfirst', { $type: 'app.bsky.richtext.facet#tag', tag: 'localfirst' }),
  ],
  embed: {
    $type: 'app.bsky.embed.images',
    images: [{ alt: 'A sunset over purple hills', image: await upload(sunset(640, 400)), aspectRatio: { width: 640, height: 400 } }],
  },
})
await new Promise((r) => setTimeout(r, 50))
await post({
  text: 'Replies are records too: this one points at its parent by AT-URI and CID.',
  reply: { root: { uri: p1.uri, cid: p1.cid }, parent: { uri: p1.uri, cid: p1.cid } },
})
await new Promise((r) => setTimeout(r, 50))
await post({
  text: 'Weekend by the sea, then up into the hills.',
  embed: {
    $type: 'app.bsky.embed.images',
    images: [
      { alt: 'Waves under a pale sky', image: await upload(sea(480, 300)), aspectRatio: { width: 480, height: 300 } },
      { alt: 'Green hills', image: await upload(hills(480, 300)), aspectRatio: { width: 480, height: 300 } },
    ],
  },
})
// An upload no record uses yet: it shows as temporary in Blobs.
await upload(hills(300, 300))

fs.writeFileSync(carPath, await xrpc('com.atproto.sync.getRepo', { query: { did } }))
console.log(did)
