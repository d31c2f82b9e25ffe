// What a person does in Hearth's window, driven with Playwright in Debian's
// chromium against `wails dev` (the real UI with live Go bindings on
// http://localhost:34115). Run by scripts/test-gui.sh, which starts wails dev
// under Xvfb with a throwaway data folder, presets the native file dialogs
// to HEARTH_E2E_CAR, and starts a local PLC directory (HEARTH_E2E_PLC_URL)
// when this test creates the file HEARTH_E2E_PLC_START.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { spawn, execFileSync } from 'node:child_process'
import net from 'node:net'
import { chromium } from 'playwright-core'
import { png, sunset } from './png.mjs'
import { LoopbackApp } from './oauth.mjs'

const URL = process.env.HEARTH_GUI_URL ?? 'http://localhost:34115/'
const CAR = process.env.HEARTH_E2E_CAR
const ARTIFACTS = process.env.HEARTH_E2E_ARTIFACTS ?? os.tmpdir()
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const PLC_URL = process.env.HEARTH_E2E_PLC_URL
const PLC_START = process.env.HEARTH_E2E_PLC_START
const DATA_DIR = process.env.HEARTH_E2E_DATA_DIR
// A hearthd binary for a second PDS (the Move out wizard's destination).
const HEARTHD = process.env.HEARTH_E2E_HEARTHD
let second = null // { proc, url, invite, dir }

// filesHolding lists the files under dir whose bytes contain needle.
function filesHolding(dir, needle) {
  const out = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...filesHolding(p, needle))
    else if (e.isFile() && fs.readFileSync(p).includes(needle)) out.push(p)
  }
  return out
}
const T = 20_000 // per expectation

assert.ok(CAR, 'HEARTH_E2E_CAR must name the CAR path the dialogs are preset to')
assert.ok(PLC_URL && PLC_START, 'HEARTH_E2E_PLC_URL and HEARTH_E2E_PLC_START come from scripts/test-gui.sh')

const HANDLE = 'alice.test'
const TEXT1 = 'Hello from Hearth! Notes at https://example.com/hearth #localfirst'
const ALT = 'A sunset over purple hills'
const TEXT2 = 'Replying to myself, with Ctrl+Enter.'
const TEXT3 = 'Written after the export, so not in the CAR.'

let ctx, page, userDir
let did = ''
let rkey1 = ''
let blobCID = ''
let localURL = ''
let publicURL = ''
let broken = false
const pageErrors = []

/**
 * A minimal relay on loopback: it accepts requestCrawl (the hostnames land
 * in asked) and then reports the host active at seq through
 * getHostStatus, as indigo's does.
 */
async function fakeRelay(seq) {
  const asked = []
  const srv = http.createServer((req, res) => {
    const u = new globalThis.URL(req.url, 'http://x')
    res.setHeader('content-type', 'application/json')
    if (u.pathname === '/xrpc/com.atproto.sync.requestCrawl') {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        asked.push(JSON.parse(body).hostname)
        res.end('{}')
      })
    } else if (u.pathname === '/xrpc/com.atproto.sync.getHostStatus' && asked.includes(u.searchParams.get('hostname'))) {
      res.end(JSON.stringify({ hostname: u.searchParams.get('hostname'), seq, status: 'active' }))
    } else {
      res.statusCode = 404
      res.end(JSON.stringify({ error: 'HostNotFound', message: 'host not found' }))
    }
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  return { asked, srv, relayURL: `http://127.0.0.1:${srv.address().port}` }
}

/** A test step; after one fails the rest are skipped (they build on it). */
function step(name, fn) {
  it(name, async (t) => {
    if (broken) return t.skip('an earlier step failed')
    try {
      await fn()
      await snap(name)
    } catch (e) {
      broken = true
      const shot = path.join(ARTIFACTS, `failure-${name.replace(/[^a-z0-9]+/gi, '-')}.png`)
      await page?.screenshot({ path: shot, fullPage: true }).catch(() => {})
      console.error(`screenshot of the failure: ${shot}`)
      throw e
    }
  })
}

/** With HEARTH_E2E_SNAPSHOTS=1, a screenshot of the page after each step (for review). */
async function snap(name) {
  if (process.env.HEARTH_E2E_SNAPSHOTS === '1')
    await page.screenshot({ path: path.join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`) })
}

/** A screenshot under a fixed name (for the README), with HEARTH_E2E_SNAPSHOTS=1. */
async function snapAs(name) {
  if (process.env.HEARTH_E2E_SNAPSHOTS === '1') await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer().once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => ok(p))
    })
  })
}

/** A second PDS: hearthd serve on a free loopback port with its own folder, the same PLC, an invite code. */
async function startSecondHearth() {
  const port = await freePort()
  const url = `http://localhost:${port}`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-second-'))
  const common = ['--data-dir', dir, '--key-store', 'file', '--public-url', url, '--plc-url', PLC_URL]
  const invite = execFileSync(HEARTHD, ['invite', 'create', ...common]).toString().trim()
  const log = fs.openSync(path.join(ARTIFACTS, 'second-hearthd.log'), 'w')
  const proc = spawn(HEARTHD, ['serve', ...common, '--listen', `127.0.0.1:${port}`, '--relays', '', '--allow-private-network'], {
    stdio: ['ignore', log, log],
  })
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) throw new Error('the second hearthd exited; see second-hearthd.log')
    const ok = await fetch(`${url}/xrpc/_health`).then((r) => r.ok, () => false)
    if (ok) return { proc, url, invite, dir }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('the second hearthd did not start')
}

const nav = (name) => page.getByRole('navigation', { name: 'Hearth' }).getByRole('button', { name: new RegExp(`^${name}`) })
const composer = () => page.getByRole('form', { name: 'New post' })
const submitButton = () => composer().getByRole('button', { name: /^(Post|Reply)\b/ })
const article = (text) => page.getByRole('article').filter({ hasText: text })

const publishToggle = () => page.getByTestId('publish-toggle')
const tunnelState = () => page.getByTestId('tunnel-state')
const kinds = () => page.getByRole('group', { name: 'How the internet reaches your PDS' })
const text = async (loc) => (await loc.textContent()).trim()

/** A secp256k1 public key as a did:key (multicodec 0xe7, base58btc). */
function newDidKey() {
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const { x, y } = publicKey.export({ format: 'jwk' })
  const yb = Buffer.from(y, 'base64url')
  const bytes = Buffer.concat([Buffer.from([0xe7, 0x01, 2 + (yb[yb.length - 1] & 1)]), Buffer.from(x, 'base64url')])
  const A = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = BigInt('0x' + bytes.toString('hex'))
  let out = ''
  while (n > 0n) {
    out = A[Number(n % 58n)] + out
    n /= 58n
  }
  return 'did:key:z' + out
}

async function plcData(did) {
  const res = await fetch(`${PLC_URL}/${did}/data`)
  assert.equal(res.status, 200, `the PLC directory knows ${did}`)
  return res.json()
}

async function imageLoaded(img) {
  await img.waitFor({ timeout: T })
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: T })
}

describe('Hearth desktop window', { concurrency: false }, () => {
  before(async () => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-chromium-'))
    ctx = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1240, height: 820 },
    })
    page = ctx.pages()[0] ?? (await ctx.newPage())
    page.setDefaultTimeout(T)
    page.on('pageerror', (e) => pageErrors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') console.error('browser console:', m.text())
    })
  })

  after(async () => {
    second?.proc.kill('SIGTERM')
    await ctx?.close().catch(() => {})
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true })
  })

  step('first run: Move in explains mistakes, offers Resume after a stop, and can be abandoned', async () => {
    await page.goto(URL, { timeout: 120_000 }) // the first load waits for Vite to optimise dependencies: slow on a busy machine
    await page.getByRole('heading', { name: 'Welcome to Hearth' }).waitFor()
    await page.getByTestId('open-move-in').click()
    await page.getByRole('heading', { name: 'Move in', level: 1 }).waitFor()
    // Mistakes are explained before anything is sent.
    await page.getByTestId('move-start').click()
    await page.getByText('The address of the other PDS, like https://bsky.social.').waitFor()
    await page.getByText('Your handle (or DID or email) on the old PDS.').waitFor()
    await page.getByText('At least 8 characters.').waitFor()
    // An old PDS that does not answer (nothing listens on port 9): the
    // step fails in words and the move waits for Resume.
    await page.getByLabel('Your current PDS').fill('http://127.0.0.1:9')
    await page.getByLabel('Your handle there').fill('someone.test')
    await page.getByLabel('Your password there').fill('the old password')
    await page.getByLabel(/^Email for the account/).fill('someone@example.com')
    await page.getByLabel('A password for the account on Hearth').fill('a new long password')
    await page.getByTestId('move-start').click()
    await page.getByTestId('move-interrupted').waitFor()
    assert.equal(await page.getByTestId('move-step-sign_in').getAttribute('data-status'), 'failed')
    assert.match(await text(page.getByTestId('move-interrupted')), /Sign in to the old PDS.*(connect|refused)/is)
    // The window reopens on the stopped move (the state is in move.json).
    assert.ok(fs.existsSync(path.join(DATA_DIR, 'move.json')))
    assert.equal(fs.statSync(path.join(DATA_DIR, 'move.json')).mode & 0o777, 0o600)
    assert.ok(!fs.readFileSync(path.join(DATA_DIR, 'move.json'), 'utf8').includes('the old password'), 'no password on disk')
    await page.reload()
    await page.getByRole('heading', { name: 'Move in', level: 1 }).waitFor()
    await page.getByTestId('move-resume').click()
    await page.getByTestId('move-interrupted').waitFor()
    await snapAs('move-in-interrupted')
    // Abandoned (nothing moved): back to the first-run screen.
    await page.getByTestId('move-discard').click()
    await page.getByRole('dialog').getByRole('button', { name: 'Abandon' }).click()
    await page.getByTestId('move-start').waitFor()
    assert.ok(!fs.existsSync(path.join(DATA_DIR, 'move.json')))
    await page.getByRole('button', { name: 'Back', exact: true }).click()
    await page.getByRole('heading', { name: 'Welcome to Hearth' }).waitFor()
  })

  step('first run: create the account', async () => {
    await page.goto(URL, { timeout: 120_000 })
    await page.getByRole('heading', { name: 'Welcome to Hearth' }).waitFor()
    // Mistakes are explained before anything is sent.
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByText('Choose a handle.').waitFor()
    await page.getByText('Use at least 8 characters.').waitFor()

    await page.getByLabel('Handle').fill(HANDLE)
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery staple')
    await page.getByLabel(/^Email/).fill('alice@example.com')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByRole('heading', { name: 'Your account is ready' }).waitFor()
  })

  step('first run: the DID, and what is and is not published', async () => {
    did = (await page.getByTestId('did').textContent()).trim()
    assert.match(did, /^did:plc:[a-z2-7]{24}$/)
    // The PLC directory is unreachable in this test: the DID is not published yet.
    const explanation = await page.getByTestId('explanation').textContent()
    assert.match(explanation, /not published yet/)
    await page.getByRole('heading', { name: 'Published' }).waitFor()
    await page.getByRole('heading', { name: 'Only on this computer' }).waitFor()
    await page.getByRole('button', { name: 'Start posting' }).click()
    await page.getByRole('heading', { name: 'Posts', level: 1 }).waitFor()
    await page.getByText('No posts yet').waitFor()
  })

  step('compose: grapheme counter and the 300 limit', async () => {
    const box = page.getByLabel('Post text')
    await box.fill('👍🏽👨‍👩‍👧‍👦 hi')
    assert.equal(await page.getByTestId('grapheme-count').textContent(), '5/300')
    await box.fill('a'.repeat(301))
    assert.equal(await page.getByTestId('grapheme-count').textContent(), '301/300')
    assert.equal(await submitButton().isDisabled(), true)
    await box.fill('')
  })

  step('compose: image checks say what is wrong; a picture over 1 MB is taken (Hearth shrinks it at upload)', async () => {
    const input = page.locator('#post-images')
    const big = Buffer.concat([png(2, 2, () => [0, 0, 0]), Buffer.alloc(1_000_001)])
    await input.setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: big })
    await page.getByLabel('Alt text for image 1').waitFor()
    assert.equal(await page.getByText(/Bluesky accepts images up to/).count(), 0)
    await page.getByRole('button', { name: 'Remove image 1' }).click()
    await input.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') })
    await page.getByText('notes.txt is not an image Bluesky accepts: use PNG, JPEG, GIF or WebP.').waitFor()
  })

  step('compose: a failed post keeps the text, the image and its alt text', async () => {
    await page.getByLabel('Post text').fill(TEXT1)
    // Facets are detected as you type.
    const detected = page.getByRole('list', { name: 'Detected in your text' })
    await detected.getByText('https://example.com/hearth').waitFor()
    await detected.getByText('localfirst').waitFor()
    await page.locator('#post-images').setInputFiles({ name: 'sunset.png', mimeType: 'image/png', buffer: sunset() })
    await page.getByLabel('Alt text for image 1').fill(ALT)

    // The engine refuses once (simulated): the error is shown in words.
    await page.evaluate(() => {
      const app = window.go.app.App
      const real = app.Post
      app.Post = () => {
        app.Post = real
        return Promise.reject('InvalidRequest: the disk is full (simulated)')
      }
    })
    await submitButton().click()
    await page.getByText('Your post was not published. The disk is full (simulated)', { exact: true }).waitFor()
    assert.equal(await page.getByLabel('Post text').inputValue(), TEXT1)
    assert.equal(await page.getByLabel('Alt text for image 1').inputValue(), ALT)
  })

  step('post with a link and an image with alt text', async () => {
    await submitButton().click()
    await page.getByText('Posted.').first().waitFor()
    assert.equal(await page.getByLabel('Post text').inputValue(), '')
    const post = article('Hello from Hearth!')
    await post.waitFor()
    // The link is a facet, rendered as a link.
    await post.getByRole('link', { name: 'https://example.com/hearth' }).waitFor()
    // The image comes from the local PDS's getBlob, with its alt text.
    await imageLoaded(post.getByRole('img', { name: ALT }))
    rkey1 = await post.getAttribute('data-rkey')
    assert.match(rkey1, /^[a-z2-7]{13}$/)
  })

  step('reply to your post with Ctrl+Enter', async () => {
    await article('Hello from Hearth!').getByRole('button', { name: 'Reply' }).click()
    await composer().getByText('Replying to').waitFor()
    const box = page.getByLabel('Post text')
    assert.equal(await box.evaluate((el) => el === document.activeElement), true, 'the composer has focus')
    await box.fill(TEXT2)
    await box.press('Control+Enter')
    const reply = article(TEXT2)
    await reply.waitFor()
    await reply.getByText('Reply to').waitFor()
    assert.equal(await page.getByRole('article').count(), 2)
  })

  step('the repository browser shows the record, its links and the commit', async () => {
    await article('Hello from Hearth!').getByRole('button', { name: 'Open record' }).click()
    await page.getByRole('heading', { name: 'Repository', level: 1 }).waitFor()
    await page.getByTestId('record-uri').filter({ hasText: `at://${did}/app.bsky.feed.post/${rkey1}` }).waitFor()
    const json = page.getByTestId('record-json')
    await json.getByText('"app.bsky.embed.images"').waitFor()
    await json.getByText(`"${ALT}"`).waitFor()
    assert.match(await page.getByTestId('commit-rev').textContent(), /^[a-z2-7]{13}$/)
    await page.getByRole('button', { name: /^app\.bsky\.feed\.post\s*2$/ }).waitFor()

    // The reply's JSON links to its parent: follow the AT-URI.
    const replyRow = page.getByRole('region', { name: /^Records in/ }).getByRole('button').filter({ hasText: TEXT2 })
    await replyRow.click()
    await json.getByText('"Replying to myself, with Ctrl+Enter."').waitFor()
    await json.locator('[data-kind="aturi"]').first().click()
    await page.getByTestId('record-uri').filter({ hasText: rkey1 }).waitFor()
    await page.getByRole('button', { name: 'Back' }).waitFor()

    // Search by rkey.
    await page.getByLabel('Find a record by AT-URI or rkey').fill(rkey1)
    await page.getByRole('button', { name: 'Find', exact: true }).click()
    await page.getByRole('region', { name: 'Search results' }).getByText(`at://${did}/app.bsky.feed.post/${rkey1}`).waitFor()

    // The blob ref is a link to the blob.
    const blobLink = json.locator('[data-kind="blob"]')
    blobCID = JSON.parse(await blobLink.textContent())
    assert.match(blobCID, /^bafkrei[a-z2-7]+$/)
    await blobLink.click()
    await page.getByRole('heading', { name: 'Blobs', level: 1 }).waitFor()
  })

  step('the blob gallery has the image, used by the post', async () => {
    const card = page.locator(`[data-cid="${blobCID}"]`)
    await card.waitFor()
    await card.getByText('In use').waitFor()
    await card.getByText(/^image\/png · [\d.]+ KB$/).waitFor()
    await card.getByRole('button', { name: `app.bsky.feed.post/${rkey1}` }).waitFor()
    await imageLoaded(card.getByRole('img'))
    // Totals
    await page.getByLabel('Totals').getByText('data folder on disk').waitFor()
    // Nothing to clean up: every blob is in use.
    assert.equal(await page.getByRole('button', { name: 'Clean up temporary' }).isDisabled(), true)
  })

  step('a picture from the gallery can go into a new post', async () => {
    await page.locator(`[data-cid="${blobCID}"]`).getByRole('button', { name: 'Use in a new post' }).click()
    await page.getByRole('heading', { name: 'Posts', level: 1 }).waitFor()
    await page.getByText(/from your gallery/).waitFor()
    await imageLoaded(page.getByRole('img', { name: 'Image 1', exact: true }))
    await page.getByRole('button', { name: 'Remove image 1' }).click()
    await page.getByText(/from your gallery/).waitFor({ state: 'detached' })
  })

  step('export the repository to a CAR file, with progress events', async () => {
    await page.keyboard.press('Control+4')
    await page.getByRole('heading', { name: 'Export & import', level: 1 }).waitFor()
    await page.evaluate(() => {
      window.__progress = []
      window.runtime.EventsOn('progress', (p) => window.__progress.push(p))
    })
    await page.getByRole('button', { name: 'Export to a CAR file…' }).click()
    await page.getByText(`Saved to ${CAR}`, { exact: true }).waitFor()
    assert.ok(fs.statSync(CAR).size > 500, 'the CAR file is written')
    const progress = await page.evaluate(() => window.__progress)
    const exp = progress.filter((p) => p.job === 'export')
    assert.ok(exp.length > 0, 'progress events arrive in the window')
    const last = exp[exp.length - 1]
    assert.equal(last.done, last.total)
  })

  step('verify everything: the check reads the whole folder and says it is sound', async () => {
    await page.getByRole('button', { name: 'Verify everything' }).click()
    const ok = page.getByRole('status').filter({ hasText: 'Everything verifies' })
    await ok.waitFor()
    assert.match(await ok.innerText(), /Everything verifies: \d+ records?, \d+ blobs?, \d+ events?\./)
    const steps = (await page.evaluate(() => window.__progress)).filter((p) => p.job === 'verify').map((p) => p.phase)
    assert.ok(steps.includes('checking the database') && steps.includes('checking the event log'), `verify progress: ${steps}`)
  })

  step('full backup: scheduling needs a kept passphrase; Back up now writes an encrypted file with progress; status shows when', async () => {
    const card = page.getByTestId('backup-card')
    await card.getByText('No backup yet.').waitFor()
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-backups-'))
    await card.getByLabel('Backup folder').fill(folder)
    // No passphrase is kept yet: the schedule is refused, in words.
    await card.getByRole('button', { name: 'Back up on a schedule' }).click()
    await card.getByRole('alert').filter({ hasText: 'choose a backup passphrase first' }).waitFor()
    // Back up now with a typed passphrase, into the typed folder.
    await card.getByLabel('Passphrase for this backup').fill('e2e backup passphrase')
    await card.getByRole('button', { name: 'Back up now' }).click()
    const done = card.getByRole('status').filter({ hasText: 'Backed up' })
    await done.waitFor()
    const files = fs.readdirSync(folder).filter((n) => n.startsWith('hearth-backup-') && n.endsWith('.age'))
    assert.equal(files.length, 1, `one backup in ${folder}: ${files}`)
    assert.ok((await done.innerText()).includes(folder), 'it says where the backup went')
    const bytes = fs.readFileSync(path.join(folder, files[0]))
    assert.ok(bytes.subarray(0, 22).toString().startsWith('age-encryption.org/v1'), 'the backup is an age file')
    assert.ok(!bytes.includes(HANDLE) && !bytes.includes('hearth-sealed-v1:'), 'nothing readable in the backup')
    const steps = (await page.evaluate(() => window.__progress)).filter((p) => p.job === 'backup').map((p) => p.phase)
    assert.ok(steps.includes('copying the database') && steps.includes('done'), `backup progress: ${steps}`)
    await card.getByTestId('backup-last').getByText(/^Last good backup: /).waitFor()
    // The status screen shows the time of the last good backup.
    await page.keyboard.press('Control+5')
    const last = page.getByTestId('status-last-backup')
    await last.waitFor()
    await page.waitForFunction(() => !/None yet/.test(document.querySelector('[data-testid=status-last-backup]').textContent), null, { timeout: T })
    assert.match(await last.innerText(), /\d{1,2}:\d{2}/)
    await page.keyboard.press('Control+4')
    fs.rmSync(folder, { recursive: true, force: true })
  })

  step('export everything for leaving Hearth: one zip with the repo, blobs and recovery key', async () => {
    await page.getByRole('button', { name: 'Export everything…' }).click()
    const zip = `${CAR}.zip` // the save dialog is preset to the CAR path; .zip is added
    await page.getByTestId('export-all-done').getByText(`Saved to ${zip}`).waitFor()
    const bytes = fs.readFileSync(zip)
    assert.equal(bytes.subarray(0, 2).toString(), 'PK', 'a zip file')
    for (const name of ['repo.car', 'plc-audit-log.json', 'RECOVERY-KEY.txt', 'preferences.json', 'README.txt'])
      assert.ok(bytes.includes(name), `${name} is in the export`)
    assert.ok(bytes.includes(`blobs/${blobCID}`), 'the image is in the export')
  })

  step('delete the post (after confirming)', async () => {
    await page.keyboard.press('Control+1')
    const post = article('Hello from Hearth!')
    await post.getByRole('button', { name: 'Delete post' }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete this post?' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Delete post' }).click()
    await post.waitFor({ state: 'detached' })
    await article(TEXT2).waitFor()
    // Its image is now temporary.
    await nav('Blobs').click()
    await page.locator(`[data-cid="${blobCID}"]`).getByText('Temporary').waitFor()
  })

  step('import the CAR: see what it holds, confirm, and the post is back', async () => {
    await page.keyboard.press('Control+4')
    await page.getByRole('button', { name: 'Choose a CAR file to import…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Import this repository?' })
    await dialog.waitFor()
    await dialog.getByText(did, { exact: true }).waitFor()
    const row = dialog.getByRole('row', { name: /app\.bsky\.feed\.post/ })
    assert.match(await row.textContent(), /app\.bsky\.feed\.post\s*2/)
    assert.match(await dialog.textContent(), /Blobs referenced\s*1/)
    await dialog.getByRole('button', { name: 'Import 2 records' }).click()
    await page.getByText('Imported 2 records').first().waitFor()

    await page.keyboard.press('Control+1')
    const post = article('Hello from Hearth!')
    await post.waitFor()
    await imageLoaded(post.getByRole('img', { name: ALT }))
    assert.equal(await page.getByRole('article').count(), 2)
    await page.keyboard.press('Control+2')
    await page.locator(`[data-cid="${blobCID}"]`).getByText('In use').waitFor()
  })

  step('an older CAR: the dialog shows what would be lost, and only the danger button imports it', async () => {
    // A post written after the export is not in the CAR.
    await page.keyboard.press('Control+1')
    await page.getByLabel('Post text').fill(TEXT3)
    await submitButton().click()
    await article(TEXT3).waitFor()

    await page.keyboard.press('Control+4')
    const choose = page.getByRole('button', { name: 'Choose a CAR file to import…' })
    await choose.click()
    const dialog = page.getByRole('dialog', { name: 'Import this repository?' })
    await dialog.waitFor()
    const loss = dialog.getByTestId('import-loss')
    await loss.getByRole('heading', { name: 'You would lose 1 record' }).waitFor()
    assert.match(await loss.textContent(), /older than your repository/)
    const row = loss.getByRole('row', { name: /app\.bsky\.feed\.post/ })
    assert.match(await row.textContent(), /app\.bsky\.feed\.post\s*1\s*0/)
    await loss.getByRole('list', { name: 'Posts you would lose' }).getByText(TEXT3).waitFor()
    // No one-click import here; Cancel (focused) keeps everything.
    assert.equal(await dialog.getByRole('button', { name: /^Import \d+ records?$/ }).count(), 0)
    const cancel = dialog.getByRole('button', { name: 'Cancel' })
    assert.equal(await cancel.evaluate((el) => el === document.activeElement), true, 'Cancel has focus')
    await cancel.click()
    await dialog.waitFor({ state: 'hidden' })
    await page.keyboard.press('Control+1')
    await article(TEXT3).waitFor()

    // The Go side refuses the loss without the confirmation, whatever the window does.
    const refused = await page.evaluate((car) => window.go.app.App.ImportCAR(car, '').then(() => '', (e) => String(e)), CAR)
    assert.match(refused, /would lose 1 record/)
    await article(TEXT3).waitFor()

    // Confirmed with the danger button: the repository is the CAR's again.
    await page.keyboard.press('Control+4')
    await choose.click()
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Replace and lose 1 record' }).click()
    await dialog.waitFor({ state: 'hidden' })
    await page.getByText(/Imported 2 records \(revision/).first().waitFor()
    await page.keyboard.press('Control+1')
    await article(TEXT3).waitFor({ state: 'detached' })
    await article('Hello from Hearth!').waitFor()
    assert.equal(await page.getByRole('article').count(), 2)
  })

  step('the commit history shows the posts and the import', async () => {
    await page.keyboard.press('Control+3')
    await page.getByRole('button', { name: 'Commit history' }).click()
    const table = page.getByRole('region', { name: 'Commit history' })
    await table.getByText('sync', { exact: true }).first().waitFor()
    await table.getByRole('button', { name: `app.bsky.feed.post/${rkey1}` }).first().waitFor()
    await page.getByRole('button', { name: 'Records', exact: true }).click()
  })

  step('open the CAR read-only and browse it', async () => {
    await page.keyboard.press('Control+4')
    await page.getByRole('button', { name: 'Open a CAR read-only…' }).click()
    await page.getByRole('heading', { name: 'Repository', level: 1 }).waitFor()
    const source = page.getByRole('button', { name: new RegExp(path.basename(CAR)) })
    assert.equal(await source.getAttribute('aria-pressed'), 'true')
    const facts = page.getByRole('definition').filter({ hasText: CAR })
    await facts.waitFor()
    await page.getByRole('button', { name: /^app\.bsky\.feed\.post\s*2$/ }).click()
    await page.locator(`button[data-uri="at://${did}/app.bsky.feed.post/${rkey1}"]`).click()
    const json = page.getByTestId('record-json')
    await json.getByText(`"${TEXT1}"`).waitFor()
    await page.getByText('(not in the CAR)').waitFor()
    await page.getByRole('button', { name: 'Close CAR' }).click()
    await source.waitFor({ state: 'detached' })
  })

  step('status: URL, seq, live events and the publishing placeholders', async () => {
    await page.keyboard.press('Control+5')
    await page.getByRole('heading', { name: 'Status', level: 1 }).waitFor()
    localURL = await text(page.getByTestId('local-url'))
    assert.match(localURL, /^http:\/\/localhost:\d+$/)
    const seq = Number(await page.getByTestId('seq').textContent())
    assert.ok(seq >= 5, `seq ${seq}`)
    // Publishing is off: nothing is public yet.
    assert.equal(await text(page.getByTestId('status-tunnel')), 'Off')
    await page.getByText('Not published', { exact: true }).waitFor()
    await page.getByText('Not requested', { exact: true }).waitFor()
    // A new commit arrives as an "event" from the Go side and shows up live.
    await page.evaluate(() => {
      window.__events = []
      window.runtime.EventsOn('event', (e) => window.__events.push(e))
    })
    await page.evaluate(() => window.go.app.App.Post({ text: 'live event', facets: null, images: [], replyTo: '', langs: [] }))
    await page.waitForFunction(() => window.__events.some((e) => e.kind.replace('#', '') === 'commit'), null, { timeout: T })
    const ev = await page.evaluate(() => window.__events.find((e) => e.kind.replace('#', '') === 'commit'))
    assert.equal(ev.did, did)
    await page.waitForFunction((s) => Number(document.querySelector('[data-testid=seq]').textContent) > s, seq, { timeout: T })
    await page.getByRole('region', { name: /^Recent events/ }).getByRole('cell', { name: String(ev.seq), exact: true }).waitFor()
  })

  step('connected apps: an app signs in with OAuth, is listed with what it may do, and Revoke signs it out', async () => {
    await page.keyboard.press('Control+9')
    await page.getByRole('heading', { name: 'Connected apps', level: 1 }).waitFor()
    await page.getByTestId('no-apps').waitFor()
    // A loopback app pushes its request over HTTP; its sign-in page opens in
    // another tab, where the person signs in and allows it.
    const oapp = new LoopbackApp(localURL, 'atproto transition:generic')
    const consent = await ctx.newPage()
    try {
      const callback = consent.waitForRequest((r) => r.url().startsWith(oapp.redirect), { timeout: T })
      await consent.goto(await oapp.authorizeURL())
      await consent.fill('#identifier', HANDLE)
      await consent.fill('#password', 'correct horse battery staple')
      await consent.click('#approve')
      await oapp.finish((await callback).url())
    } finally {
      await consent.close()
    }
    assert.equal((await oapp.xrpc('GET', 'com.atproto.server.getSession')).status, 200, 'the app is signed in')

    await page.getByRole('button', { name: 'Refresh connected apps' }).click()
    const card = page.getByTestId('connected-app')
    await card.getByRole('heading', { name: 'An app on this computer' }).waitFor()
    await card.getByText(/like an app password/).waitFor()
    await card.getByText(/^Last used today/).waitFor()
    await card.getByRole('button', { name: 'Revoke An app on this computer' }).click()
    const dialog = page.getByRole('dialog', { name: 'Revoke An app on this computer?' })
    await dialog.waitFor()
    await dialog.getByRole('button', { name: 'Revoke' }).click()
    await card.waitFor({ state: 'detached' })
    await page.getByTestId('no-apps').waitFor()
    const after = await oapp.xrpc('GET', 'com.atproto.server.getSession')
    assert.equal(after.status, 401, 'the revoked app is signed out')
  })

  step('developer: the local XRPC and Jetstream URLs, and a live, filtered view of /subscribe', async () => {
    await page.keyboard.press('Control+0')
    await page.getByRole('heading', { name: 'Developer', level: 1 }).waitFor()
    await page.waitForFunction((u) => document.querySelector('[data-testid=dev-xrpc-url]')?.textContent === u, localURL, { timeout: T })
    assert.equal(await text(page.getByTestId('dev-jetstream-url')), localURL.replace(/^http/, 'ws') + '/subscribe')
    // Replay from cursor 0, posts only: the posts made earlier arrive as Jetstream JSON.
    await page.getByTestId('dev-collections').fill('app.bsky.feed.post')
    await page.getByTestId('dev-cursor').fill('0')
    assert.match(await text(page.getByTestId('dev-stream-url')), /\/subscribe\?wantedCollections=app.bsky.feed.post&cursor=0$/)
    await page.getByTestId('dev-stream-start').click()
    await page.waitForFunction(() => document.querySelector('[data-testid=dev-stream-state]')?.textContent === 'live', null, { timeout: T })
    const lines = page.getByTestId('dev-stream-lines')
    await lines.locator('tr[title*="live event"]').waitFor({ timeout: T })
    // Live: a new post shows up while the view is open.
    await page.evaluate(() => window.go.app.App.Post({ text: 'for the developer view', facets: null, images: [], replyTo: '', langs: [] }))
    await lines.locator('tr[title*="for the developer view"]').waitFor({ timeout: T })
    assert.match(await text(lines.locator('tr[title*="for the developer view"] td').nth(2)), /^create app\.bsky\.feed\.post\//)
    // Another filter: follows only, so no post comes through.
    await page.getByTestId('dev-collections').fill('app.bsky.graph.follow')
    await page.getByTestId('dev-stream-start').click()
    await page.waitForFunction(() => document.querySelector('[data-testid=dev-stream-state]')?.textContent === 'live', null, { timeout: T })
    await page.waitForTimeout(1000)
    assert.equal(await page.locator('[data-testid=dev-stream-lines] tr[title*="app.bsky.feed.post"]').count(), 0)
  })

  step('publish: off, the test tunnel hidden, and mistakes explained before anything is sent', async () => {
    await page.keyboard.press('Control+6')
    await page.getByRole('heading', { name: 'Publish', level: 1 }).waitFor()
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Publish', 'Ctrl+6 lands on the heading')
    assert.equal(await text(tunnelState()), 'Off')
    assert.equal(await text(publishToggle()), 'Start publishing')
    // Only the tunnels a person can use are offered.
    assert.deepEqual(await kinds().getByRole('radio').evaluateAll((els) => els.map((e) => e.value)), ['ngrok', 'byo'])
    // ngrok without a token (none saved, no NGROK_AUTHTOKEN): the Go side says so.
    await kinds().getByRole('radio', { name: /ngrok tunnel/ }).check()
    await page.getByLabel('Authtoken', { exact: true }).fill('')
    await publishToggle().click()
    await page.getByTestId('publish-error').getByText(/^Publishing did not start\. No ngrok authtoken/).waitFor()
    assert.equal(await text(tunnelState()), 'Off')
    // Your own URL: hints as you type, and nothing is sent while one is an error.
    await kinds().getByRole('radio', { name: /My own URL/ }).check()
    const url = page.getByLabel('Public URL', { exact: true })
    const hint = page.getByTestId('byo-url-hint')
    await url.fill('pds.example.com')
    await hint.getByText('Start with https://, like https://pds.example.com.', { exact: true }).waitFor()
    await url.fill('http://pds.example.com')
    await hint.getByText(/^Use https: relays and apps do not connect to plain http/).waitFor()
    await url.fill('https://pds.example.com/xrpc')
    await hint.getByText(/^Leave out the path/).waitFor()
    assert.equal(await url.getAttribute('aria-invalid'), 'true')
    await publishToggle().click()
    assert.equal(await url.evaluate((el) => el === document.activeElement), true, 'the field to fix has focus')
    assert.equal(await text(tunnelState()), 'Off')
    await url.fill('https://pds.example.com')
    assert.equal(await url.getAttribute('aria-invalid'), 'false')
  })

  step('publish: the DID waits for the PLC directory, which then comes up', async () => {
    // Created while the directory was unreachable: the genesis operation waits.
    await page.getByTestId('plc-state').getByText('1 waiting', { exact: true }).waitFor()
    fs.writeFileSync(PLC_START, '')
    const deadline = Date.now() + T
    for (;;) {
      const ok = await fetch(`${PLC_URL}/${did}`).then(() => true, () => false)
      if (ok) break
      assert.ok(Date.now() < deadline, `the local PLC directory answers at ${PLC_URL}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  step('publish: the loopback test tunnel goes online and the identity moves there', async () => {
    // The test tunnel is offered only with the test flag (read when the panel opens).
    await page.evaluate(() => localStorage.setItem('hearth.testTunnels', '1'))
    await page.keyboard.press('Control+5')
    await page.keyboard.press('Control+6')
    const loopback = kinds().getByRole('radio', { name: /Loopback/ })
    await loopback.check()
    await page.evaluate(() => {
      window.__tunnel = []
      window.runtime.EventsOn('tunnel', (t) => window.__tunnel.push(t.state))
    })
    await publishToggle().click()
    // Honest status: the tunnel is up, but alice.test resolves nowhere, so
    // the outside check fails and the panel names the step and the fix
    // instead of saying "Online".
    await tunnelState().getByText('Not reachable', { exact: true }).waitFor()
    publicURL = await text(page.getByTestId('public-url'))
    assert.match(publicURL, /^http:\/\/localhost:\d+$/)
    assert.notEqual(publicURL, localURL)
    await page.getByTestId('tunnel-text').getByText(/the outside check fails at “Your handle resolves to your DID”\. Add a DNS TXT record _atproto\.alice\.test/).waitFor()
    const details = page.getByTestId('outside-details')
    await details.getByText('Details of the outside check (3 of 4 pass)').click()
    await details.locator('li[data-ok="false"]').getByText('✗ Your handle resolves to your DID').waitFor()
    assert.equal(await details.locator('li[data-ok="true"]').count(), 3)
    assert.equal(await text(publishToggle()), 'Stop publishing')
    assert.equal(await page.getByLabel('Public URL', { exact: true }).count(), 0) // the byo field is gone: loopback is chosen
    assert.equal(await loopback.isDisabled(), true, 'the settings are locked while publishing')
    // The "tunnel" events: Go emits "connecting" then "online", but Wails
    // delivers events asynchronously, so their order in the page is not
    // guaranteed (the panel orders them by their Go timestamp).
    await page.waitForFunction(() => window.__tunnel.includes('online'), null, { timeout: T })
    assert.deepEqual((await page.evaluate(() => window.__tunnel)).sort(), ['connecting', 'online'])
    // The DID document moved to the public URL: genesis and move are in the directory.
    await page.getByTestId('did-endpoint').getByText('your public URL', { exact: true }).waitFor()
    await page.getByTestId('plc-state').getByText('Published', { exact: true }).waitFor()
    const data = await plcData(did)
    assert.equal(data.services.atproto_pds.endpoint, publicURL)
    assert.deepEqual(data.alsoKnownAs, [`at://${HANDLE}`])
    // The PDS answers there, and the sidebar says it is published.
    assert.equal((await fetch(`${publicURL}/xrpc/_health`)).status, 200)
    // The sidebar does not claim "Published" while the outside check fails.
    await page.getByTestId('sidebar-tunnel').getByText('Not reachable', { exact: true }).waitFor()
  })

  step('publish: the self-check passes for the server, the DID document and the firehose', async () => {
    await page.getByRole('button', { name: 'Run self-check' }).click()
    const results = page.getByRole('list', { name: 'Self-check results' })
    await results.waitFor()
    const check = (name) => results.getByRole('listitem').filter({ hasText: name })
    for (const name of ['Server answers at the public URL', 'Your DID document points at this PDS', 'Relays can open the firehose']) {
      assert.equal(await check(name).getAttribute('data-ok'), 'true', `${name}: ${await check(name).textContent()}`)
      await check(name).getByText('Pass', { exact: true }).waitFor()
    }
    // alice.test cannot resolve anywhere: failed, with how to fix it.
    const handle = check('Your handle resolves to your DID')
    assert.equal(await handle.getAttribute('data-ok'), 'false')
    await handle.getByText('Fail', { exact: true }).waitFor()
    await handle.getByText(`How to fix: Add a DNS TXT record _atproto.${HANDLE} with the value "did=${did}"`, { exact: false }).waitFor()
    assert.equal(await text(page.getByTestId('check-summary').locator('.badge')), '3 of 4 pass')
  })

  step('account: "View on bsky.app" while published', async () => {
    await page.keyboard.press('Control+7')
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor()
    await page.getByTestId('view-on-bsky').waitFor()
    await page.keyboard.press('Control+6')
  })

  step('closing the window while publishing asks; "keep serving" hides it and the PDS stays online', async () => {
    // Playwright drives wails dev's page in a browser and cannot press the
    // native window's close button: the decision on close (app.BeforeClose:
    // ask only while publishing, never on a deliberate quit) is tested in
    // app/window_test.go. Here the event it sends the window opens the dialog.
    const ask = () => page.evaluate((url) => window.runtime.EventsEmit('close-requested', { publicURL: url }), publicURL)
    await ask()
    const dialog = page.getByRole('dialog', { name: 'Keep your PDS online?' })
    await dialog.waitFor()
    await dialog.getByText(publicURL, { exact: true }).waitFor()
    await dialog.getByText(/it goes offline/).waitFor()
    await dialog.getByRole('button', { name: 'Stop and quit' }).waitFor()
    const keep = dialog.getByRole('button', { name: 'Keep serving in the background' })
    assert.equal(await keep.evaluate((el) => el === document.activeElement), true, 'keep serving is the default')
    // Cancel leaves everything as it was.
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    await ask()
    await dialog.waitFor()
    await keep.click()
    await dialog.waitFor({ state: 'hidden' })
    // The native window is hidden; the PDS still serves and publishing is on.
    assert.equal((await fetch(`${publicURL}/xrpc/_health`)).status, 200)
    const st = await page.evaluate(() => window.go.app.App.PublishingStatus())
    assert.equal(st.tunnel.state, 'online')
    assert.equal(st.outside.state, 'failing')
    await page.getByTestId('sidebar-tunnel').getByText('Not reachable', { exact: true }).waitFor()
    await page.evaluate(() => window.runtime.WindowShow())
  })

  step('publish: relay status (a local address is not sent to default relays)', async () => {
    const relay = page.getByRole('list', { name: 'Relay crawl status' }).locator('[data-relay="https://bsky.network"]')
    await relay.getByTestId('relay-state').getByText('Not asked', { exact: true }).waitFor()
    await relay.getByText(/The public address is local or private, so this default relay on the internet could not reach it/).waitFor()
  })

  step('publish: a domain handle shows its DNS record, and one that does not resolve is refused in words', async () => {
    await page.getByLabel('Domain handle').fill('@Alice.Example.com')
    await page.getByRole('button', { name: 'Show what to set up' }).click()
    assert.equal(await text(page.getByTestId('dns-name')), '_atproto.alice.example.com')
    assert.equal(await text(page.getByTestId('dns-value')), `did=${did}`)
    await page.getByTestId('handle-instructions').getByText('https://alice.example.com/.well-known/atproto-did', { exact: true }).waitFor()
    await page.getByRole('button', { name: 'Verify and switch to @alice.example.com' }).click()
    const err = page.getByTestId('handle-error')
    await err.waitFor()
    assert.match(await text(err), /^Your handle was not changed\. alice\.example\.com does not resolve to your DID yet \(.+\): add the DNS TXT record _atproto\.alice\.example\.com/)
    assert.equal(await text(page.locator('.sidebar .handle')), `@${HANDLE}`)
  })

  step('publish: the recovery key, behind a warning; and a rotation key of your own', async () => {
    await page.getByRole('button', { name: 'Reveal recovery key…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Show your recovery key?' })
    await dialog.getByRole('button', { name: 'Show the key' }).click()
    await page.getByTestId('recovery-warning').getByText(/^Whoever has this key controls your identity/).waitFor()
    const key = await text(page.getByTestId('recovery-key'))
    assert.match(key, /^[0-9a-f]{64}$/)
    await page.getByRole('button', { name: 'Copy recovery key' }).click()
    await page.getByRole('button', { name: 'Copy recovery key' }).getByText('Copied').waitFor()
    await page.getByRole('button', { name: 'Hide', exact: true }).click()
    await page.getByTestId('recovery-key').waitFor({ state: 'detached' })

    const own = page.getByLabel('Add a rotation key of your own')
    await own.fill('did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK') // ed25519: not for PLC
    await page.getByRole('button', { name: 'Add key' }).click()
    await page.getByText(/accepts secp256k1 \(did:key:zQ3s…\) and P-256/).waitFor()
    const mine = newDidKey()
    await own.fill(mine)
    await page.getByRole('button', { name: 'Add key' }).click()
    await page.getByText(/^Rotation key added/).first().waitFor()
    assert.equal(await own.inputValue(), '')
    // Published at once: the directory lists it after Hearth's own key.
    const data = await plcData(did)
    assert.equal(data.rotationKeys.length, 2)
    assert.equal(data.rotationKeys[1], mine)
    await page.getByTestId('plc-state').getByText('Published', { exact: true }).waitFor()
  })

  step('publish: a recovery key only you hold is shown once and ranks above Hearth\'s key', async () => {
    await page.getByRole('button', { name: 'Make a recovery key only you hold…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Make a recovery key only you hold?' })
    await dialog.getByRole('button', { name: 'Make the key' }).click()
    const key = await text(page.getByTestId('own-recovery-key'))
    assert.match(key, /^[0-9a-f]{64}$/)
    const didKey = await text(page.getByTestId('own-recovery-didkey'))
    await page.getByRole('button', { name: 'I have stored it' }).click()
    await page.getByTestId('own-recovery-key').waitFor({ state: 'detached' })
    const data = await plcData(did)
    assert.equal(data.rotationKeys.length, 3)
    assert.equal(data.rotationKeys[0], didKey, 'the user\'s key ranks first')
    // Hearth does not keep it: no file in the data folder holds it.
    assert.ok(DATA_DIR, 'HEARTH_E2E_DATA_DIR is set')
    assert.deepEqual(filesHolding(DATA_DIR, Buffer.from(key, 'hex')), [])
    assert.deepEqual(filesHolding(DATA_DIR, Buffer.from(key)), [])
  })

  step('publish: an invite code lets someone create an account over XRPC', async () => {
    await page.getByRole('button', { name: 'Create invite code' }).click()
    const code = await text(page.getByTestId('invite-code').first())
    assert.match(code, /^hearth-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]+$/)
    const signUp = (handle) =>
      fetch(`${publicURL}/xrpc/com.atproto.server.createAccount`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ handle, password: 'another long password', inviteCode: code }),
      })
    const res = await signUp('bob.test')
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.match(body.did, /^did:plc:/)
    assert.equal((await plcData(body.did)).services.atproto_pds.endpoint, publicURL)
    // One use only.
    assert.equal((await signUp('carol.test')).status, 400)
    // The window stays on your account.
    assert.equal(await text(page.locator('.sidebar .handle')), `@${HANDLE}`)
  })

  step('status: the public URL and the relay crawl', async () => {
    await page.keyboard.press('Control+5')
    assert.equal(await text(page.getByTestId('status-public-url')), publicURL)
    assert.equal(await text(page.getByTestId('status-tunnel')), 'Not reachable')
    await page.getByTestId('status-unverified').waitFor()
    await page.getByTestId('status-outside').getByText(/^Fails at “Your handle resolves to your DID”\. Add a DNS TXT record/).waitFor()
    await page.getByTestId('relay-crawl').getByText('Not asked', { exact: true }).waitFor()
  })

  step('publish: stop, then your own URL: relay crawl retried with the error shown', async () => {
    await page.keyboard.press('Control+6')
    await publishToggle().click()
    await tunnelState().getByText('Off', { exact: true }).waitFor()
    await page.getByTestId('sidebar-tunnel').waitFor({ state: 'detached' })
    // The loopback tunnel's port closes (Go drops open connections just after).
    for (const deadline = Date.now() + T; ; ) {
      const closed = await fetch(`${publicURL}/xrpc/_health`).then(() => false, () => true)
      if (closed) break
      assert.ok(Date.now() < deadline, `${publicURL} still answers after stopping`)
      await new Promise((r) => setTimeout(r, 100))
    }

    await kinds().getByRole('radio', { name: /My own URL/ }).check()
    await page.getByLabel('Public URL', { exact: true }).fill('https://pds.invalid')
    await page.getByText('Relays to ask to crawl your PDS').click()
    await page.getByLabel('Relays, one per line').fill('http://127.0.0.1:9')
    await publishToggle().click()
    // Nothing answers at pds.invalid: the first step of the outside check fails.
    await tunnelState().getByText('Not reachable', { exact: true }).waitFor()
    await page.getByTestId('tunnel-text').getByText(/fails at “Server answers at the public URL”/).waitFor()
    assert.equal(await text(page.getByTestId('public-url')), 'https://pds.invalid')
    const relay = page.locator('[data-relay="http://127.0.0.1:9"]')
    await relay.getByTestId('relay-state').getByText('Not subscribed', { exact: true }).waitFor()
    await relay.getByTestId('relay-text').getByText(/^Relay unreachable: .*connection refused\. Hearth asks again (in \d+ s|now)\.$/).waitFor()
    await page.keyboard.press('Control+5')
    await page.getByTestId('relay-crawl').getByText('Not subscribed', { exact: true }).waitFor()
  })

  step('publish: switch it off', async () => {
    await page.keyboard.press('Control+6')
    await publishToggle().click()
    await tunnelState().getByText('Off', { exact: true }).waitFor()
    assert.equal(await text(publishToggle()), 'Start publishing')
    assert.equal(await page.getByLabel('Public URL', { exact: true }).isEnabled(), true, 'the settings can change again')
    await page.keyboard.press('Control+5')
    await page.getByText('Not published', { exact: true }).waitFor()
  })

  step('publish: a relay that follows the PDS shows Subscribed with the last event it has seen', async () => {
    const { asked, srv, relayURL } = await fakeRelay(42)
    try {
      await page.keyboard.press('Control+6')
      await kinds().getByRole('radio', { name: /Loopback/ }).check()
      if (!(await page.getByLabel('Relays, one per line').isVisible())) await page.getByText('Relays to ask to crawl your PDS').click()
      await page.getByLabel('Relays, one per line').fill(relayURL)
      await publishToggle().click()
      const relay = page.locator(`[data-relay="${relayURL}"]`)
      await relay.getByTestId('relay-state').getByText('Subscribed', { exact: true }).waitFor()
      const url = await text(page.getByTestId('public-url'))
      await relay.getByTestId('relay-text').getByText(`The relay follows ${url.replace('http://', '')}; it has seen up to event #42.`).waitFor()
      assert.deepEqual([...new Set(asked)], [url.replace('http://', '')], 'the hostname carries the port')
      await page.keyboard.press('Control+5')
      await page.getByTestId('relay-crawl').getByText('Subscribed', { exact: true }).waitFor()
      await page.keyboard.press('Control+6')
      await publishToggle().click()
      await tunnelState().getByText('Off', { exact: true }).waitFor()
    } finally {
      srv.close()
    }
  })

  step('publish: a new ngrok authtoken is checked once, in one sentence, with the details folded', async () => {
    await kinds().getByRole('radio', { name: /ngrok/ }).check()
    const token = page.getByLabel('Authtoken', { exact: true })
    await token.fill('2bogusHEARTHe2eTOKEN_0123456789abcdefABCDEF')
    await token.press('Tab') // "change": checked when entered
    const check = page.getByTestId('token-check')
    await check.waitFor()
    assert.equal(await check.getAttribute('data-ok'), 'false')
    // Here ngrok is out of reach (no internet) or refuses the token: one plain sentence either way.
    const sentence = await text(check.locator('span').first())
    assert.match(sentence, /^(ngrok did not accept this authtoken|Hearth could not reach ngrok to check this authtoken)/)
    assert.ok(!sentence.includes('\n') && !/dial tcp|ERR_NGROK/.test(sentence), sentence)
    await check.getByText('Details').click()
    await check.locator('details .mono').waitFor()
    // Starting with it is refused in the same sentence; nothing is saved.
    await publishToggle().click()
    await page.getByTestId('publish-error').getByText(`Publishing did not start. ${sentence}`).waitFor()
    await tunnelState().getByText('Off', { exact: true }).waitFor()
    await kinds().getByRole('radio', { name: /My own URL/ }).check()
  })

  const login = (identifier, password) =>
    fetch(`${localURL}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ identifier, password }),
    }).then((r) => r.status)

  step('account: edit the profile with an avatar; apps read it over XRPC', async () => {
    await page.keyboard.press('Control+7')
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor()
    assert.equal(await page.getByTestId('view-on-bsky').count(), 0, 'no bsky.app link while not published')
    await page.getByTestId('avatar-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: sunset() })
    await imageLoaded(page.getByRole('img', { name: 'Your avatar' }))
    await page.getByLabel('Display name').fill('Alice')
    await page.getByLabel('Description').fill('Posting from my own PDS.')
    await page.getByTestId('save-profile').click()
    await page.getByText('Profile saved.').waitFor()
    const r = await (await fetch(`${localURL}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=app.bsky.actor.profile&rkey=self`)).json()
    assert.equal(r.value.displayName, 'Alice')
    assert.equal(r.value.description, 'Posting from my own PDS.')
    assert.equal(r.value.avatar.mimeType, 'image/png')
  })

  step('account: an app password (the privileged option explained), listed, then revoked', async () => {
    const card = page.getByTestId('app-passwords')
    await card.getByText(/Allow access to direct messages \(privileged\)/).waitFor()
    await page.getByLabel('Name (the app it is for)').fill('Phone')
    await card.getByRole('checkbox').check()
    await page.getByTestId('create-app-password').click()
    const shown = page.getByTestId('new-app-password')
    await shown.waitFor()
    const pw = (await text(shown.locator('.mono'))).trim()
    assert.match(pw, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/)
    await card.getByText('can read direct messages').waitFor()
    assert.equal(await login(did, pw), 200, 'the app password logs in')
    await card.getByRole('button', { name: 'Revoke Phone' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke', exact: true }).click()
    await card.getByText('No app passwords yet.').waitFor()
    assert.equal(await login(did, pw), 401, 'a revoked app password does not')
  })

  step('account: change the password and the handle', async () => {
    await page.getByLabel('Current password').fill('correct horse battery staple')
    await page.getByLabel('New password').fill('a brand new horse staple')
    await page.getByTestId('change-password').click()
    await page.getByText(/^Password changed\./).waitFor()
    assert.equal(await login(did, 'correct horse battery staple'), 401)
    assert.equal(await login(did, 'a brand new horse staple'), 200)
    // Another .test handle is this PDS's to give (HEARTH_USER_DOMAINS=.test).
    await page.getByLabel('New handle').fill('alice2.test')
    await page.getByTestId('change-handle').click()
    await page.getByText('Your handle is now @alice2.test.').waitFor()
    assert.equal(await text(page.locator('.sidebar .handle')), '@alice2.test')
  })

  step('account: email confirmed and changed with codes from the outbox', async () => {
    assert.equal(await page.getByLabel('Email address').inputValue(), 'alice@example.com')
    assert.equal(await text(page.getByTestId('email-state')), 'not confirmed')
    await page.getByTestId('send-confirmation').click()
    const confirmCode = page.getByTestId('outbox').locator('[data-purpose=confirm_email]').first()
    await confirmCode.waitFor()
    await page.getByLabel('Confirmation code').fill(await text(confirmCode))
    await page.getByTestId('confirm-email').click()
    await page.getByTestId('email-state').getByText('confirmed', { exact: true }).waitFor()
    // A confirmed address changes only with the update code.
    await page.getByLabel('Email address').fill('alice@elsewhere.example')
    await page.getByTestId('save-email').click()
    const updateCode = page.getByTestId('outbox').locator('[data-purpose=update_email]').first()
    await updateCode.waitFor()
    await page.getByLabel('Code to change it (from the outbox)').fill(await text(updateCode))
    await page.getByTestId('save-email').click()
    await page.getByText('Email saved.').waitFor()
    await page.getByTestId('email-state').getByText('not confirmed', { exact: true }).waitFor()
  })

  step('account: deactivate, then reactivate', async () => {
    await page.getByTestId('deactivate').click()
    await page.getByRole('dialog').getByRole('button', { name: 'Deactivate', exact: true }).click()
    await page.getByTestId('deactivated-note').waitFor()
    const st = await (await fetch(`${localURL}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)).json()
    assert.equal(st.active, false)
    await page.getByTestId('reactivate').click()
    await page.getByTestId('deactivate').waitFor()
    assert.equal((await (await fetch(`${localURL}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)).json()).active, true)
  })

  step('settings: data folder, AppView, start at login, and the logs with a bug report to copy', async () => {
    await page.keyboard.press('Control+8')
    await page.getByRole('heading', { name: 'Settings & logs', level: 1 }).waitFor()
    assert.equal(await text(page.getByTestId('settings-data-dir')), DATA_DIR)
    assert.match(await text(page.getByTestId('settings-appview')), /^https:\/\/api\.bsky\.app \(did:web:api\.bsky\.app\)$/)
    // Start at login writes an XDG autostart entry (test-gui.sh points XDG_CONFIG_HOME at its own folder).
    const entry = path.join(path.dirname(DATA_DIR), 'config', 'autostart', 'hearth.desktop')
    await page.getByTestId('start-at-login').check()
    await page.getByText(entry).waitFor()
    assert.match(fs.readFileSync(entry, 'utf8'), /^\[Desktop Entry\]\n[\s\S]*\nExec=/)
    await page.getByTestId('start-at-login').uncheck()
    await page.waitForFunction(() => !document.querySelector('[data-testid=start-at-login]').checked)
    assert.equal(fs.existsSync(entry), false)
    // The log viewer shows what the engine and the tunnel said (publishing ran earlier).
    await page.getByTestId('log-lines').locator('li').first().waitFor()
    await page.getByRole('button', { name: 'Tunnel', exact: true }).click()
    await page.getByTestId('log-lines').locator('li').first().waitFor()
    await page.getByRole('button', { name: 'All', exact: true }).click()
    await page.getByTestId('copy-bug-report').click()
    await page.getByText(/^(Copied: paste it into your bug report\.|The clipboard is not available here\.)$/).waitFor()
    const report = await page.evaluate(() => window.go.app.App.BugReport())
    assert.match(report, /^Hearth bug report, /)
    assert.match(report, /recent logs \(oldest first\):\n.+/)
    assert.ok(!report.includes('a brand new horse staple') && !report.includes('correct horse battery staple'), 'no passwords in the report')
  })

  step('settings: the AppView is checked as typed, saved, used at once by the proxy, and reset', async () => {
    await page.keyboard.press('Control+8')
    await page.getByRole('heading', { name: 'Settings & logs', level: 1 }).waitFor()
    const url = page.getByLabel('AppView URL')
    const didField = page.getByLabel('AppView DID')
    const save = page.getByTestId('save-appview')
    assert.equal(await url.inputValue(), 'https://api.bsky.app')
    assert.equal(await page.getByTestId('reset-appview').isDisabled(), true, 'already the default')
    // Plain http to another host is refused (developer options are off here), as is a did:key.
    await url.fill('http://appview.example.test')
    await page.getByTestId('appview-hint').getByText(/must start with https:\/\//).waitFor()
    assert.equal(await save.isDisabled(), true)
    await url.fill('https://appview.example.test/')
    await didField.fill('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')
    await page.getByTestId('appview-hint').getByText(/did:web or did:plc/).waitFor()
    assert.equal(await save.isDisabled(), true)
    await didField.fill('did:web:appview.example.test')
    await save.click()
    await page.getByTestId('appview-msg').getByText('Saved and in use: the next app call goes there.').waitFor()
    assert.equal(await text(page.getByTestId('settings-appview')), 'https://appview.example.test (did:web:appview.example.test)')
    const saved = JSON.parse(fs.readFileSync(path.join(DATA_DIR, 'desktop.json'), 'utf8'))
    assert.equal(saved.appViewURL, 'https://appview.example.test')
    assert.equal(saved.appViewDID, 'did:web:appview.example.test')
    // Through the real XRPC edge, without a restart: an app.bsky call is passed on to the new
    // AppView (which does not exist, so it fails upstream), and the log names its DID.
    const session = await (
      await fetch(`${localURL}/xrpc/com.atproto.server.createSession`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ identifier: 'alice2.test', password: 'a brand new horse staple' }),
      })
    ).json()
    assert.ok(session.accessJwt, 'signed in')
    const res = await fetch(`${localURL}/xrpc/app.bsky.actor.getProfile?actor=alice2.test`, { headers: { Authorization: `Bearer ${session.accessJwt}` } })
    assert.equal(res.status, 502)
    const logs = await page.evaluate(() => window.go.app.App.Logs())
    assert.ok(
      logs.some((l) => l.message === 'proxied service unreachable' && l.attrs.includes('did:web:appview.example.test')),
      'the proxied call went to the AppView chosen in the window',
    )
    await page.getByTestId('reset-appview').click()
    await page.getByTestId('appview-msg').getByText('Back to Bluesky’s AppView.').waitFor()
    assert.equal(await text(page.getByTestId('settings-appview')), 'https://api.bsky.app (did:web:api.bsky.app)')
    assert.equal(await url.inputValue(), 'https://api.bsky.app')
    assert.equal(JSON.parse(fs.readFileSync(path.join(DATA_DIR, 'desktop.json'), 'utf8')).appViewURL, undefined)
  })

  step('settings: relays edited here are the Publish screen\'s, and a relay added while publishing is asked at once', async () => {
    const { asked, srv, relayURL } = await fakeRelay(7)
    try {
      await page.keyboard.press('Control+6')
      await kinds().getByRole('radio', { name: /Loopback/ }).check()
      if (!(await page.getByLabel('Relays, one per line').isVisible())) await page.getByText('Relays to ask to crawl your PDS').click()
      await page.getByLabel('Relays, one per line').fill('https://bsky.network')
      await publishToggle().click()
      await page.locator('[data-relay="https://bsky.network"]').waitFor()

      await page.keyboard.press('Control+8')
      const relays = page.getByLabel('Relays, one per line')
      assert.equal(await relays.inputValue(), 'https://bsky.network')
      await relays.fill('ftp://nope')
      await page.getByText('“ftp://nope” is not a relay address like https://bsky.network.').waitFor()
      assert.equal(await page.getByTestId('save-relays').isDisabled(), true)
      await relays.fill(`https://bsky.network\n${relayURL}`)
      await page.getByTestId('save-relays').click()
      await page.getByTestId('relays-msg').getByText(/^Saved\./).waitFor()

      // No restart: the Publish screen shows the same list, and the new relay subscribed.
      await page.keyboard.press('Control+6')
      await page.locator(`[data-relay="${relayURL}"]`).getByTestId('relay-state').getByText('Subscribed', { exact: true }).waitFor()
      assert.ok(asked.length > 0, 'the relay added in Settings was asked to crawl')
      assert.equal(await page.locator('#relays').inputValue(), `https://bsky.network\n${relayURL}`)
      await publishToggle().click()
      await tunnelState().getByText('Off', { exact: true }).waitFor()

      // Back to the default from Settings; the Publish form follows.
      await page.keyboard.press('Control+8')
      await page.getByRole('button', { name: 'Use the default' }).click()
      await page.getByTestId('relays-msg').getByText('Back to the default relay.').waitFor()
      assert.equal(await page.getByLabel('Relays, one per line').inputValue(), 'https://bsky.network')
      await page.keyboard.press('Control+6')
      await page.waitForFunction(() => document.querySelector('#relays')?.value === 'https://bsky.network')
      await page.keyboard.press('Control+8')
      await page.getByRole('heading', { name: 'Settings & logs', level: 1 }).waitFor()
      await page.getByTestId('start-at-login-where').getByText(/^Adds .*hearth\.desktop, the autostart entry your desktop opens when you log in\.$/).waitFor()
    } finally {
      srv.close()
    }
  })

  step('account: delete behind the typed handle; the window moves on to the folder\'s other account', async () => {
    await page.keyboard.press('Control+7')
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor()
    await page.getByLabel(/^Type your handle/).fill(HANDLE) // the old handle does not count
    await page.getByLabel('Your password').fill('a brand new horse staple')
    assert.equal(await page.getByTestId('delete-account').isDisabled(), true)
    await page.getByLabel(/^Type your handle/).fill('alice2.test')
    await page.getByTestId('delete-account').click()
    // bob.test signed up over XRPC with the invite code: the folder still holds an account.
    await page.getByText('Your account and its data were deleted.').waitFor()
    await page.locator('.sidebar .handle').getByText('@bob.test', { exact: true }).waitFor()
    assert.equal((await fetch(`${localURL}/xrpc/com.atproto.repo.describeRepo?repo=${did}`)).status, 400)
  })

  step('move out: the wizard takes bob.test to a second PDS, with the PLC code from the outbox, and both sides match', async () => {
    assert.ok(HEARTHD, 'HEARTH_E2E_HEARTHD comes from scripts/test-gui.sh')
    second = await startSecondHearth()
    const bob = (await (await fetch(`${localURL}/xrpc/com.atproto.repo.describeRepo?repo=bob.test`)).json()).did
    assert.match(bob, /^did:plc:/)
    await nav('Move out').click()
    await page.getByRole('heading', { name: 'Move out', level: 1 }).waitFor()
    await page.getByTestId('move-start').click()
    await page.getByText('The address of the other PDS, like https://bsky.social.').waitFor()
    await page.getByText('Your handle on the new PDS.').waitFor()
    await page.getByLabel('The new PDS', { exact: true }).fill(second.url)
    await page.getByLabel('Handle on the new PDS', { exact: true }).fill('bob-moved.test')
    await page.getByLabel(/^Invite code/).fill(second.invite)
    await page.getByLabel(/^Email/).fill('bob@example.com')
    await page.getByLabel('Your Hearth password', { exact: true }).fill('another long password')
    await page.getByLabel('A password for the new PDS', { exact: true }).fill('bob on the second hearth')
    await page.getByTestId('move-start').click()
    // What will move, before anything does.
    const summary = page.getByTestId('move-summary')
    await summary.waitFor()
    assert.match(await text(summary), /@bob\.test → @bob-moved\.test/)
    await snapAs('move-out-summary')
    // The window reopened mid-move comes back to it.
    await page.reload()
    await page.getByTestId('move-summary').waitFor()
    await page.getByTestId('move-confirm').click()
    const report = page.getByTestId('move-report')
    await report.waitFor({ timeout: 120_000 })
    assert.match(await text(report), /Both sides match/)
    assert.match(await text(report), /@bob-moved\.test/)
    for (const id of ['sign_in', 'copy_blobs', 'plc_token', 'plc_operation', 'deactivate_old', 'report'])
      assert.equal(await page.getByTestId(`move-step-${id}`).getAttribute('data-status'), 'done', id)
    await snapAs('move-out-report')
    // Both sides, over XRPC: active on the second PDS, deactivated here; the DID document points there.
    const status = async (base) => (await fetch(`${base}/xrpc/com.atproto.sync.getRepoStatus?did=${bob}`)).json()
    assert.equal((await status(second.url)).active, true)
    assert.deepEqual(await status(localURL).then((s) => [s.active, s.status]), [false, 'deactivated'])
    assert.equal((await plcData(bob)).services.atproto_pds.endpoint, second.url)
    await page.getByTestId('move-clear').click()
    await page.getByRole('dialog').getByRole('button', { name: 'Clear', exact: true }).click()
    await page.getByTestId('move-start').waitFor()
  })

  step('no uncaught errors in the page', async () => {
    assert.deepEqual(pageErrors, [])
  })
})
