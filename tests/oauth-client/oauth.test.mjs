// End-to-end OAuth sign-in with the real @atproto/oauth-client-node against a
// live hearthd (run by scripts/test-oauth.sh, which starts hearthd and a local
// PLC directory and passes their URLs in the environment).
//
// The client is a loopback client (client_id http://localhost?…, virtual
// metadata, no document to fetch). It resolves the handle through hearthd's
// resolveHandle and the DID through the local PLC, finds the PDS and its
// authorization server from their metadata, pushes the request (PAR, DPoP,
// PKCE), and Playwright drives the consent page in Debian's chromium as a
// person would: password, Allow. The callback completes the token exchange;
// then the DPoP-bound session writes an xyz.statusphere.status record with
// validate: false and reads it back. A second sign-in is denied.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import { Agent } from '@atproto/api'
import { NodeOAuthClient, OAuthCallbackError, requestLocalLock } from '@atproto/oauth-client-node'
import { chromium } from 'playwright-core'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run scripts/test-oauth.sh)`)
  return v
}
const HEARTH_URL = env('HEARTH_URL')
const HANDLE = env('HEARTH_HANDLE')
const PASSWORD = env('HEARTH_PASSWORD')
const DID = env('HEARTH_DID')
const PLC_URL = env('HEARTH_PLC_URL')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SCOPE = 'atproto transition:generic'
const T = 30_000

// The loopback redirect: a little server that hands each callback's query to
// whoever waits for it.
let callbackServer
let redirectURI
let waiting = []
function nextCallback() {
  return new Promise((resolve) => waiting.push(resolve))
}

// In-memory stores, as the client's README shows.
function memoryStore() {
  const m = new Map()
  return {
    async get(k) { return m.get(k) },
    async set(k, v) { m.set(k, v) },
    async del(k) { m.delete(k) },
  }
}

// Every request the client makes, with its answer's status.
const calls = []
const recordingFetch = async (input, init) => {
  const req = new Request(input, init)
  const res = await fetch(req)
  calls.push({ method: req.method, url: req.url, status: res.status })
  return res
}

function newClient() {
  const clientId = `http://localhost?${new URLSearchParams({ redirect_uri: redirectURI, scope: SCOPE })}`
  return new NodeOAuthClient({
    clientMetadata: {
      client_id: clientId,
      client_name: 'Hearth OAuth e2e',
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
    // hearthd is served over http on loopback, the PLC directory too.
    allowHttp: true,
    plcDirectoryUrl: PLC_URL,
    // Handles resolve through the PDS's own resolveHandle (no DNS for .test).
    handleResolver: HEARTH_URL,
    fetch: recordingFetch,
  })
}

let ctx
let page
let userDir

async function waitForPLC() {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${PLC_URL}/${DID}`).catch(() => null)
    if (res?.status === 200) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`the local PLC never learned ${DID}`)
}

describe('OAuth sign-in with @atproto/oauth-client-node', { concurrency: false }, () => {
  before(async () => {
    callbackServer = http.createServer((req, res) => {
      const u = new URL(req.url, 'http://127.0.0.1')
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('signed in; you can close this window')
      const w = waiting
      waiting = []
      for (const resolve of w) resolve(u.searchParams)
    })
    await new Promise((r) => callbackServer.listen(0, '127.0.0.1', r))
    redirectURI = `http://127.0.0.1:${callbackServer.address().port}/callback`

    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-oauth-chromium-'))
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 720, height: 900 },
    })
    page = ctx.pages()[0] ?? (await ctx.newPage())
    page.setDefaultTimeout(T)
    await waitForPLC()
  })

  after(async () => {
    await ctx?.close().catch(() => {})
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true })
    await new Promise((r) => (callbackServer ? callbackServer.close(r) : r()))
  })

  test('sign in, Allow, then a DPoP-bound createRecord and getRecord', async () => {
    const client = newClient()
    const url = await client.authorize(HANDLE, { scope: SCOPE, state: 'e2e-allow' })
    assert.equal(url.origin, HEARTH_URL, 'the authorization server is hearthd itself')

    const cb = nextCallback()
    await page.goto(url.href)
    await page.getByRole('heading').first().waitFor()
    const body = await page.textContent('body')
    assert.match(body, /Hearth OAuth e2e|localhost/, 'the page names the app')
    await page.fill('#identifier', HANDLE)
    await page.fill('#password', PASSWORD)
    // HEARTH_OAUTH_SCREENSHOTS=DIR keeps a picture of the sign-in page (the README's).
    if (process.env.HEARTH_OAUTH_SCREENSHOTS) {
      await page.screenshot({ path: path.join(process.env.HEARTH_OAUTH_SCREENSHOTS, 'oauth-sign-in.png'), fullPage: true })
    }
    await page.click('#approve')
    const params = await cb
    assert.equal(params.get('iss'), HEARTH_URL, 'iss in the authorization response')
    await page.waitForURL(/\/callback/)

    const { session, state } = await client.callback(params)
    assert.equal(state, 'e2e-allow')
    assert.equal(session.did, DID)
    const info = await session.getTokenInfo()
    assert.equal(new URL(info.aud).origin, HEARTH_URL, 'the resource server is hearthd')
    assert.equal(info.iss, HEARTH_URL)
    assert.match(info.scope, /transition:generic/)

    const agent = new Agent(session)
    const record = { $type: 'xyz.statusphere.status', status: '🔥', createdAt: new Date().toISOString() }
    const created = await agent.com.atproto.repo.createRecord({
      repo: session.did, collection: 'xyz.statusphere.status', record, validate: false,
    })
    assert.match(created.data.uri, new RegExp(`^at://${DID}/xyz\\.statusphere\\.status/`))
    const rkey = created.data.uri.split('/').pop()
    const got = await agent.com.atproto.repo.getRecord({ repo: session.did, collection: 'xyz.statusphere.status', rkey })
    assert.equal(got.data.cid, created.data.cid)
    assert.deepEqual(got.data.value, record)

    // The session restores from the store and refreshes on demand.
    const restored = await client.restore(DID, true)
    const again = await new Agent(restored).com.atproto.server.getSession()
    assert.equal(again.data.did, DID)
    assert.equal(again.data.email, undefined, 'no transition:email, no email')

    // Signing out revokes the grant at hearthd's revocation endpoint.
    await restored.signOut()
    const revoke = calls.find((c) => c.url === `${HEARTH_URL}/oauth/revoke`)
    assert.equal(revoke?.status, 200, `revocation: ${JSON.stringify(calls.slice(-3))}`)
    await assert.rejects(agent.com.atproto.server.getSession())
  })

  test('sign in, Deny: the callback reports access_denied', async () => {
    const client = newClient()
    const url = await client.authorize(HANDLE, { scope: SCOPE, state: 'e2e-deny' })
    const cb = nextCallback()
    await page.goto(url.href)
    await page.click('#deny')
    const params = await cb
    assert.equal(params.get('error'), 'access_denied')
    await assert.rejects(client.callback(params), (err) => {
      assert.ok(err instanceof OAuthCallbackError, `got ${err}`)
      assert.equal(err.params.get('error'), 'access_denied')
      assert.equal(err.state, 'e2e-deny')
      return true
    })
  })
})
