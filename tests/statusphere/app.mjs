// A small Statusphere-style app, written like the official example
// (github.com/bluesky-social/statusphere-example-app) but in one file with no
// framework: an HTTP server with @atproto/oauth-client-node as a loopback
// client, a login route, the OAuth callback, a route that sets a status by
// writing an xyz.statusphere.status record to the user's PDS through the
// OAuth session's Agent, and a Jetstream consumer that keeps the latest
// statuses in memory and shows them on the home page.
//
// Run on its own against `hearthd devnet`:
//
//   hearthd devnet --data-dir ./devnet --listen 127.0.0.1:2583
//   PDS_URL=http://127.0.0.1:2583 PLC_URL=http://127.0.0.1:2584 \
//     JETSTREAM_URL=ws://127.0.0.1:2583/subscribe node app.mjs
//
// then open http://127.0.0.1:8080 (PORT=… to change it). The test
// (statusphere.test.mjs) imports startApp and drives it with Playwright.
import crypto from 'node:crypto'
import http from 'node:http'

import { Agent } from '@atproto/api'
import { NodeOAuthClient, requestLocalLock } from '@atproto/oauth-client-node'

export const COLLECTION = 'xyz.statusphere.status'
export const STATUS_OPTIONS = ['👍', '🦋', '🥳', '😔', '😍', '🔥', '💻', '🙃']
const SCOPE = 'atproto transition:generic'
const COOKIE = 'statusphere-sid' // cookies ignore ports: keep clear of the PDS's names

function memoryStore() {
  const m = new Map()
  return {
    async get(k) { return m.get(k) },
    async set(k, v) { m.set(k, v) },
    async del(k) { m.delete(k) },
  }
}

// TIDs as the example's TID.nextStr(): 53 bits of microseconds and 10 bits of
// clock id, in base32-sortable, never going backwards.
const S32 = '234567abcdefghijklmnopqrstuvwxyz'
let lastTID = 0n
const clockID = BigInt(crypto.randomInt(1024))
function nextTID() {
  let us = BigInt(Date.now()) * 1000n
  if (us <= lastTID) us = lastTID + 1n
  lastTID = us
  let v = (us << 10n) | clockID
  let s = ''
  for (let i = 0; i < 13; i++) {
    s = S32[Number(v & 31n)] + s
    v >>= 5n
  }
  return s
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

// The Jetstream consumer: one WebSocket to /subscribe for the status
// collection; creates and updates replace the author's status, deletes drop it.
// Reconnects with the cursor of the last message it saw.
export function consumeJetstream(url, { onStatus, onError } = {}) {
  const statuses = new Map() // did -> { uri, did, rkey, cid, status, createdAt, indexedAt, time_us }
  let cursor
  let ws
  let closed = false
  let opened
  const ready = new Promise((r) => { opened = r })
  const connect = () => {
    const u = new URL(url)
    u.searchParams.set('wantedCollections', COLLECTION)
    if (cursor) u.searchParams.set('cursor', String(cursor))
    ws = new WebSocket(u)
    ws.addEventListener('open', () => opened())
    ws.addEventListener('message', (ev) => {
      const evt = JSON.parse(typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data).toString())
      cursor = evt.time_us
      if (evt.kind !== 'commit' || evt.commit?.collection !== COLLECTION) return
      const c = evt.commit
      const uri = `at://${evt.did}/${c.collection}/${c.rkey}`
      if (c.operation === 'delete') {
        if (statuses.get(evt.did)?.uri === uri) statuses.delete(evt.did)
        return
      }
      const rec = c.record
      if (typeof rec?.status !== 'string' || !STATUS_OPTIONS.includes(rec.status)) return
      const s = { uri, did: evt.did, rkey: c.rkey, cid: c.cid, status: rec.status, createdAt: rec.createdAt,
        indexedAt: new Date().toISOString(), time_us: evt.time_us }
      statuses.set(evt.did, s)
      onStatus?.(s)
    })
    ws.addEventListener('error', (ev) => onError?.(ev.error ?? new Error('jetstream socket error')))
    ws.addEventListener('close', () => { if (!closed) setTimeout(connect, 500) })
  }
  connect()
  return {
    statuses,
    ready,
    latest: () => [...statuses.values()].sort((a, b) => (a.time_us < b.time_us ? 1 : -1)),
    close() { closed = true; ws?.close() },
  }
}

// startApp listens on 127.0.0.1:port (0: any free port) and returns the app.
export async function startApp({ pdsURL, plcURL, jetstreamURL, port = 0, fetch: fetchImpl = fetch }) {
  const server = http.createServer()
  await new Promise((r) => server.listen(port, '127.0.0.1', r))
  const base = `http://127.0.0.1:${server.address().port}`
  const redirectURI = `${base}/oauth/callback`

  const client = new NodeOAuthClient({
    // A loopback client: client_id http://localhost?…, no metadata document.
    clientMetadata: {
      client_id: `http://localhost?${new URLSearchParams({ redirect_uri: redirectURI, scope: SCOPE })}`,
      client_name: 'Statusphere',
      redirect_uris: [redirectURI],
      scope: SCOPE,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
    },
    stateStore: memoryStore(),
    sessionStore: memoryStore(),
    requestLock: requestLocalLock,
    allowHttp: true, // the devnet serves plain http on loopback
    plcDirectoryUrl: plcURL, // did:plc resolves through the devnet's directory
    handleResolver: pdsURL, // *.test handles through the PDS's resolveHandle
    fetch: fetchImpl,
  })

  const jetstream = consumeJetstream(jetstreamURL, { onError: (err) => console.error('jetstream:', err.message) })
  const sessions = new Map() // cookie value -> did
  const handles = new Map() // did -> handle, as the example's resolver caches them

  async function handleOf(did) {
    if (handles.has(did)) return handles.get(did)
    try {
      const res = await fetchImpl(`${plcURL}/${encodeURIComponent(did)}`)
      const doc = await res.json()
      const aka = doc.alsoKnownAs?.find((a) => a.startsWith('at://'))
      if (aka) handles.set(did, aka.slice(5))
    } catch { /* show the DID */ }
    return handles.get(did) ?? did
  }

  async function sessionAgent(req) {
    const sid = /(?:^|;\s*)statusphere-sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1]
    const did = sid && sessions.get(sid)
    if (!did) return null
    try {
      return new Agent(await client.restore(did))
    } catch (err) {
      console.error('restore:', err.message)
      sessions.delete(sid)
      return null
    }
  }

  const readForm = (req) => new Promise((resolve, reject) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => resolve(new URLSearchParams(body)))
    req.on('error', reject)
  })

  const send = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers })
    res.end(body)
  }

  async function home(req, res, error) {
    const agent = await sessionAgent(req)
    const list = jetstream.latest()
    const rows = await Promise.all(list.map(async (s) => {
      const who = await handleOf(s.did)
      return `<li class="status-line" data-did="${esc(s.did)}" data-uri="${esc(s.uri)}"><span class="status">${esc(s.status)}</span> <span class="author">@${esc(who)}</span> is feeling ${esc(s.status)} (${esc(s.createdAt)})</li>`
    }))
    const top = agent
      ? `<p id="signed-in">Signed in as <b>@${esc(await handleOf(agent.assertDid))}</b></p>
<form action="/status" method="post" id="status-form">${STATUS_OPTIONS.map((s) =>
        `<button name="status" value="${esc(s)}" class="status-option">${esc(s)}</button>`).join('')}</form>
<form action="/logout" method="post"><button id="logout">Log out</button></form>`
      : `<form action="/login" method="post" id="login-form"><input name="handle" id="handle" placeholder="Enter your handle (eg alice.test)" required>
<button type="submit" id="login">Log in</button></form>`
    send(res, 200, `<!doctype html><html><head><meta charset="utf-8"><title>Statusphere</title></head><body>
<h1>Statusphere</h1><p>Set your status on the Atmosphere.</p>
${error ? `<p id="error">${esc(error)}</p>` : ''}${top}
<ul id="statuses">${rows.join('\n')}</ul></body></html>`)
  }

  server.on('request', async (req, res) => {
    const u = new URL(req.url, base)
    try {
      if (req.method === 'GET' && u.pathname === '/') return await home(req, res)
      if (req.method === 'GET' && u.pathname === '/statuses.json') {
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end(JSON.stringify(jetstream.latest()))
      }
      if (req.method === 'POST' && u.pathname === '/login') {
        const handle = (await readForm(req)).get('handle')?.trim().replace(/^@/, '')
        if (!handle) return await home(req, res, 'invalid handle')
        let url
        try {
          url = await client.authorize(handle, { scope: SCOPE })
        } catch (err) {
          console.error('authorize:', err)
          return await home(req, res, `could not sign in: ${err.message}`)
        }
        return send(res, 302, '', { location: url.href })
      }
      if (req.method === 'GET' && u.pathname === '/oauth/callback') {
        try {
          const { session } = await client.callback(u.searchParams)
          const sid = crypto.randomBytes(16).toString('hex')
          sessions.set(sid, session.did)
          return send(res, 302, '', { location: '/', 'set-cookie': `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax` })
        } catch (err) {
          console.error('callback:', err)
          return send(res, 302, '', { location: '/?error' })
        }
      }
      if (req.method === 'POST' && u.pathname === '/logout') {
        const agent = await sessionAgent(req)
        if (agent) await client.revoke(agent.assertDid).catch(() => {})
        return send(res, 302, '', { location: '/', 'set-cookie': `${COOKIE}=; Path=/; Max-Age=0` })
      }
      if (req.method === 'POST' && u.pathname === '/status') {
        const agent = await sessionAgent(req)
        if (!agent) return send(res, 401, '<h1>Session required</h1>')
        const status = (await readForm(req)).get('status')
        if (!STATUS_OPTIONS.includes(status)) return send(res, 400, '<h1>Invalid status</h1>')
        const record = { $type: COLLECTION, status, createdAt: new Date().toISOString() }
        // As the example: putRecord with a fresh TID, validate: false (the
        // PDS does not know the lexicon).
        const rkey = nextTID()
        const put = await agent.com.atproto.repo.putRecord({ repo: agent.assertDid, collection: COLLECTION, rkey, record, validate: false })
        app.written.push({ uri: put.data.uri, cid: put.data.cid, record })
        return send(res, 302, '', { location: '/' })
      }
      send(res, 404, '<h1>Not found</h1>')
    } catch (err) {
      console.error(`${req.method} ${u.pathname}:`, err)
      send(res, 500, `<h1>Error</h1><pre>${esc(err.message)}</pre>`)
    }
  })

  const app = {
    url: base,
    client,
    jetstream,
    written: [], // what /status wrote (uri, cid, record), for the test
    async close() {
      jetstream.close()
      server.closeAllConnections?.()
      await new Promise((r) => server.close(r))
    },
  }
  await jetstream.ready
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = (k, d) => process.env[k] ?? d
  const app = await startApp({
    pdsURL: env('PDS_URL', 'http://127.0.0.1:2583'),
    plcURL: env('PLC_URL', 'http://127.0.0.1:2584'),
    jetstreamURL: env('JETSTREAM_URL', 'ws://127.0.0.1:2583/subscribe'),
    port: Number(env('PORT', '8080')),
  })
  console.log(`Statusphere on ${app.url}`)
}
