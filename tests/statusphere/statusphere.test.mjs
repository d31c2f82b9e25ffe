// Statusphere runs on Hearth: the Statusphere-style app in app.mjs against a
// live `hearthd devnet` (started by scripts/test-statusphere.sh, which passes
// its URLs in the environment), fully offline.
//
// A new account signs up through the devnet's open sign-up (createAccount,
// a *.test handle, no invite). Playwright then drives the app in Debian's
// chromium as a person would: the handle on the app's login form → the
// consent page on the PDS (password, Allow) → back on the app, signed in →
// the 👍 button. The status record must come back to the app through its
// Jetstream consumer (/subscribe?wantedCollections=xyz.statusphere.status)
// and show on its home page, and getRecord on the PDS must return it.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'

import { chromium } from 'playwright-core'

import { COLLECTION, startApp } from './app.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run scripts/test-statusphere.sh)`)
  return v
}
const PDS_URL = env('PDS_URL')
const PLC_URL = env('PLC_URL')
const JETSTREAM_URL = env('JETSTREAM_URL')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SHOTS = process.env.HEARTH_STATUSPHERE_SCREENSHOTS
const T = 30_000

const suffix = `${Date.now().toString(36)}${process.pid}`
const HANDLE = `sp${suffix}.test`
const PASSWORD = `statusphere-${suffix}`

// Every request the OAuth client makes, with its answer's status.
const calls = []
const recordingFetch = async (input, init) => {
  const req = new Request(input, init)
  const res = await fetch(req)
  calls.push({ method: req.method, url: req.url, status: res.status })
  return res
}

async function xrpc(method, { params, body } = {}) {
  const u = new URL(`/xrpc/${method}`, PDS_URL)
  for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, v)
  const res = await fetch(u, body
    ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
    : {})
  const data = await res.json().catch(() => null)
  if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(data)}`)
  return data
}

async function until(what, fn, ms = T) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

let app
let ctx
let page
let userDir
let did

describe('Statusphere on hearthd devnet', { concurrency: false }, () => {
  before(async () => {
    // Open sign-up: a *.test handle needs no invite on a devnet.
    const created = await xrpc('com.atproto.server.createAccount', {
      body: { handle: HANDLE, email: `${HANDLE}@example.com`, password: PASSWORD },
    })
    did = created.did
    assert.match(did, /^did:plc:/)
    // The devnet's PLC directory knows it, and the handle resolves.
    const doc = await (await fetch(`${PLC_URL}/${did}`)).json()
    assert.deepEqual(doc.alsoKnownAs, [`at://${HANDLE}`])
    assert.equal((await xrpc('com.atproto.identity.resolveHandle', { params: { handle: HANDLE } })).did, did)

    app = await startApp({ pdsURL: PDS_URL, plcURL: PLC_URL, jetstreamURL: JETSTREAM_URL, fetch: recordingFetch })

    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-statusphere-chromium-'))
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 720, height: 900 },
    })
    page = ctx.pages()[0] ?? (await ctx.newPage())
    page.setDefaultTimeout(T)
  })

  after(async () => {
    await ctx?.close().catch(() => {})
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true })
    await app?.close()
  })

  test('log in through the consent page, set a status, see it on Jetstream and the PDS', async () => {
    // The app's login form.
    await page.goto(app.url)
    await page.fill('#handle', HANDLE)
    await Promise.all([page.waitForURL((u) => u.origin === PDS_URL), page.click('#login')])

    // The consent page on the PDS: a loopback client (no metadata document,
    // so no name of its own), its client_id; password, Allow.
    await page.locator('#approve').waitFor()
    const consent = await page.textContent('body')
    assert.match(consent, /Loopback client/, 'the consent page says what kind of app it is')
    assert.match(consent, /http:\/\/localhost\?redirect_uri=/, 'and shows its client_id')
    assert.equal(await page.inputValue('#identifier'), HANDLE, 'login_hint fills the handle')
    await page.fill('#password', PASSWORD)
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'statusphere-consent.png'), fullPage: true })
    await Promise.all([page.waitForURL((u) => u.origin === app.url && u.pathname === '/'), page.click('#approve')])

    // Back in the app, signed in.
    await page.locator('#signed-in').waitFor()
    assert.match(await page.textContent('#signed-in'), new RegExp(`@${HANDLE.replace(/\./g, '\\.')}`))
    // (The first PAR gets 400 use_dpop_nonce and the client retries with the nonce.)
    assert.ok(calls.some((c) => c.url === `${PDS_URL}/oauth/par` && c.status === 201), `PAR at the PDS: ${JSON.stringify(calls)}`)
    assert.ok(calls.some((c) => c.url === `${PDS_URL}/oauth/token` && c.status === 200), 'token exchange at the PDS')

    // Set a status: the app writes it with putRecord through the OAuth session.
    await Promise.all([page.waitForURL(`${app.url}/`), page.click('button.status-option[value="👍"]')])
    assert.equal(app.written.length, 1, 'the app wrote one record')
    const { uri, cid, record } = app.written[0]
    assert.match(uri, new RegExp(`^at://${did}/${COLLECTION.replace(/\./g, '\\.')}/[2-7a-z]{13}$`))
    assert.ok(calls.some((c) => c.method === 'POST' && c.url === `${PDS_URL}/xrpc/com.atproto.repo.putRecord` && c.status === 200),
      'putRecord with the DPoP-bound token')

    // It arrives on the app's Jetstream consumer...
    const seen = await until('the status on /subscribe', () => {
      const s = app.jetstream.statuses.get(did)
      return s?.uri === uri ? s : null
    })
    assert.equal(seen.status, '👍')
    assert.equal(seen.cid, cid)
    assert.equal(seen.createdAt, record.createdAt)

    // ...and shows on its home page.
    await until('the status on the home page', async () => {
      await page.goto(app.url)
      return (await page.locator(`#statuses li[data-uri="${uri}"]`).count()) === 1
    })
    const line = await page.textContent(`#statuses li[data-uri="${uri}"]`)
    assert.match(line, new RegExp(`👍 @${HANDLE.replace(/\./g, '\\.')} is feeling 👍`))
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'statusphere-home.png'), fullPage: true })

    // getRecord on the PDS (no auth) returns the same record.
    const rkey = uri.split('/').pop()
    const got = await xrpc('com.atproto.repo.getRecord', { params: { repo: did, collection: COLLECTION, rkey } })
    assert.equal(got.uri, uri)
    assert.equal(got.cid, cid)
    assert.deepEqual(got.value, record)

    // A second status replaces the first on the page, as in the example.
    await Promise.all([page.waitForURL(`${app.url}/`), page.click('button.status-option[value="🔥"]')])
    const second = app.written[1]
    await until('the second status on /subscribe', () => app.jetstream.statuses.get(did)?.uri === second.uri)
    await page.goto(app.url)
    assert.equal(await page.locator(`#statuses li[data-did="${did}"] .status`).textContent(), '🔥')

    // Log out revokes the grant at the PDS.
    await Promise.all([page.waitForURL(`${app.url}/`), page.click('#logout')])
    await page.locator('#login-form').waitFor()
    assert.ok(calls.some((c) => c.url === `${PDS_URL}/oauth/revoke` && c.status === 200), 'revocation at the PDS')
  })
})
