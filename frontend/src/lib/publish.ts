// The Publish panel's logic: tunnel, relay and identity states in words and
// colours; checks of what a person types (public URL, ngrok domain and
// authtoken, relays, did:key) that mirror the Go side's; and keeping the
// tunnel status right when "tunnel" events and polled answers cross.
import type { OutsideCheck, PublishConfig, PublishStatus, RelayStatus, TunnelKind, TunnelStatus } from './types'

/** Badge colours of app.css (plus "danger", added for the Publish panel). */
export type Tone = 'ok' | 'warn' | 'danger' | 'info' | 'muted'

export interface StateView {
  label: string
  tone: Tone
  text: string
}

/** A check of typed input: an error blocks, a warning only informs. */
export interface Hint {
  level: 'error' | 'warn' | ''
  message: string
}

const OK: Hint = { level: '', message: '' }
const error = (message: string): Hint => ({ level: 'error', message })
const warn = (message: string): Hint => ({ level: 'warn', message })

/** "the tunnel connection was lost: EOF" → "The tunnel connection was lost: EOF." */
function sentence(s: string): string {
  s = s.trim()
  if (!s) return ''
  s = s.charAt(0).toUpperCase() + s.slice(1)
  return /[.!?)]$/.test(s) ? s : s + '.'
}

/** localhost, *.localhost and loopback addresses: only this computer reaches them. */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1'
}

export function isLocalURL(url: string): boolean {
  try {
    return isLocalHost(new URL(url).hostname)
  } catch {
    return false
  }
}

/** The host name of a URL ("" if it is not one). */
export function hostnameOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase()
  } catch {
    return ''
  }
}

// --- states in words --------------------------------------------------------

export function tunnelView(t: TunnelStatus | null | undefined, outside?: OutsideCheck | null): StateView {
  switch (t?.state) {
    case 'connecting':
      return { label: 'Connecting…', tone: 'info', text: 'Opening the tunnel. This takes a few seconds.' }
    case 'online':
      // "Online" only while the outside check passes (honest status).
      if (outside && outside.url === t.url) {
        if (outside.state === 'failing')
          return {
            label: 'Not reachable',
            tone: 'warn',
            text: `The tunnel is up at ${t.url}, but the outside check fails at “${outside.failing}”. ${sentence(outside.hint)}`.trim(),
          }
        if (outside.state === 'verified')
          return isLocalURL(t.url)
            ? { label: 'Online', tone: 'ok', text: `Published at ${t.url}, a local test address: only this computer can reach it.` }
            : { label: 'Online', tone: 'ok', text: `Your PDS is on the internet at ${t.url}; the outside check passes.` }
      }
      return { label: 'Checking…', tone: 'info', text: `The tunnel is up at ${t.url}; checking from the outside that relays and apps can reach it.` }
    case 'offline':
      return {
        label: 'Offline',
        tone: 'danger',
        text: t.stuck
          ? `${sentence(t.reason)} Hearth does not retry this on its own: fix it, then start publishing again.`
          : `${sentence(t.reason) || 'The tunnel is down.'} Hearth keeps trying to reconnect.`,
      }
    case 'stopped':
    case undefined:
      return { label: 'Off', tone: 'muted', text: 'Publishing is off: your PDS answers only on this computer.' }
    default:
      return { label: String(t?.state), tone: 'muted', text: '' }
  }
}

/** Whether the window may say "Online"/"Published": the outside check passes for the current URL. */
export function verified(t: TunnelStatus | null | undefined, outside: OutsideCheck | null | undefined): boolean {
  return t?.state === 'online' && outside?.state === 'verified' && outside.url === t.url
}

/** A relay's crawl state alone (the Status screen has no more than that). */
export function relayStateLabel(state: string): { label: string; tone: Tone } {
  switch (state) {
    case 'subscribed':
      return { label: 'Subscribed', tone: 'ok' }
    case 'announcing':
      return { label: 'Asking…', tone: 'info' }
    case 'not-subscribed':
      return { label: 'Not subscribed', tone: 'warn' }
    case 'idle':
      return { label: 'Not asked', tone: 'muted' }
    default:
      return { label: state || 'Unknown', tone: 'muted' }
  }
}

/** "https://bsky.network: pending" (Status.relayCrawl) → relay and state. */
export function parseRelayCrawl(line: string): { relay: string; state: string } {
  const i = line.lastIndexOf(': ')
  return i > 0 ? { relay: line.slice(0, i), state: line.slice(i + 2) } : { relay: line, state: '' }
}

/** One relay's crawl request, for a person; tunnelURL says why one is idle. */
export function relayView(r: RelayStatus, tunnelURL = '', now = Date.now()): StateView {
  const { label, tone } = relayStateLabel(r.state)
  switch (r.state) {
    case 'subscribed':
      return {
        label,
        tone,
        text: r.hasSeq
          ? `The relay follows ${r.hostname || 'your PDS'}; it has seen up to event #${r.seq}.`
          : `The relay follows ${r.hostname || 'your PDS'}. ${sentence(r.lastError)}`.trim(),
      }
    case 'announcing':
      return { label, tone, text: `Asking the relay to crawl ${r.hostname || 'your PDS'}, then checking that it subscribed.` }
    case 'not-subscribed':
      return {
        label,
        tone,
        text: `${sentence(r.lastError) || 'The relay does not follow your PDS.'} ${retryIn(r.nextRetry, now)}`.trim(),
      }
    case 'idle':
      return {
        label,
        tone,
        text:
          sentence(r.lastError) ||
          (tunnelURL && isLocalURL(tunnelURL)
            ? 'Your public URL is a local address, which no relay on the internet can reach.'
            : 'Relays are asked to crawl your PDS once the tunnel is online.'),
      }
    default:
      return { label, tone, text: sentence(r.lastError) }
  }
}

/** "Hearth asks again in 40 s." for a retry time (RFC 3339); "" without one. */
export function retryIn(at: string, now = Date.now()): string {
  const t = Date.parse(at)
  if (!at || Number.isNaN(t) || t < Date.parse('0002-01-01T00:00:00Z')) return ''
  const s = Math.max(0, Math.round((t - now) / 1000))
  return s <= 1 ? 'Hearth asks again now.' : `Hearth asks again in ${s < 90 ? `${s} s` : `${Math.round(s / 60)} min`}.`
}

/** The account's identity operations (PLC directory) in words. */
export function plcView(s: Pick<PublishStatus, 'pendingOps' | 'refusedOps' | 'lastError'>): StateView {
  if (s.refusedOps > 0)
    return {
      label: `${s.refusedOps} refused`,
      tone: 'danger',
      text: `The PLC directory refused an identity update: ${sentence(s.lastError) || 'no reason given.'} Updates after it wait until this is resolved.`,
    }
  if (s.pendingOps > 0)
    return {
      label: `${s.pendingOps} waiting`,
      tone: 'warn',
      text: `${s.pendingOps === 1 ? 'One identity update is' : `${s.pendingOps} identity updates are`} signed but not published yet: the PLC directory could not be reached. Hearth sends ${s.pendingOps === 1 ? 'it' : 'them'} when it can, and whenever the tunnel comes online.`,
    }
  return { label: 'Published', tone: 'ok', text: 'Every identity update is in the PLC directory.' }
}

const trimSlash = (u: string) => u.trim().replace(/\/+$/, '')

/** Whether the DID document's PDS endpoint is the tunnel's URL. */
export function endpointMatches(pdsEndpoint: string, tunnelURL: string): boolean {
  return !!pdsEndpoint && !!tunnelURL && trimSlash(pdsEndpoint).toLowerCase() === trimSlash(tunnelURL).toLowerCase()
}

/** "just now", "3 min ago", "2 h ago", "4 days ago"; "" for no time. */
export function ago(iso: string, now: number = Date.now()): string {
  const k = sinceKey(iso)
  if (!k) return ''
  const s = Math.max(0, Math.round((now - k[0]) / 1000))
  if (s < 45) return 'just now'
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min ago`
  const h = Math.round(m / 60)
  if (h < 48) return `${h} h ago`
  return `${Math.round(h / 24)} days ago`
}

// --- what a person types ---------------------------------------------------

/**
 * A public URL for "bring your own": https (plain http only for this
 * computer), a host, no path; like tunnel.CheckPublicURL in Go, which has
 * the last word. url is the address as Hearth will publish it.
 */
export function checkPublicURL(raw: string): Hint & { url: string } {
  const s = raw.trim()
  if (!s) return { ...error('Enter the HTTPS address that reaches this computer, like https://pds.example.com.'), url: '' }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const bare = s.replace(/\/+$/, '')
    if (/^[a-z0-9.-]+\.[a-z0-9-]+(:\d+)?$/i.test(bare))
      return { ...error(`Start with https://, like https://${bare}.`), url: '' }
    return { ...error(`“${s}” is not a URL like https://pds.example.com.`), url: '' }
  }
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return { ...error(`“${s}” is not a URL like https://pds.example.com.`), url: '' }
  }
  if (!u.hostname) return { ...error(`“${s}” has no host name.`), url: '' }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search)
    return { ...error('Leave out the path: only the address, like https://pds.example.com.'), url: '' }
  const url = `${u.protocol}//${u.host}`
  const local = isLocalHost(u.hostname)
  if (u.protocol === 'http:') {
    if (!local) return { ...error('Use https: relays and apps do not connect to plain http addresses.'), url: '' }
    return { ...warn('A plain http address on this computer: fine for a test, but nothing on the internet can reach it.'), url }
  }
  if (u.protocol !== 'https:') return { ...error('The address must start with https://.'), url: '' }
  if (local) return { ...warn('This address is on this computer only: nothing on the internet can reach it.'), url }
  if (u.port) return { ...warn(`Relays expect the standard HTTPS port: an address with :${u.port} may not be crawled.`), url }
  return { ...OK, url }
}

/** An ngrok reserved domain (optional), like tunnel.Ngrok.Plan in Go. */
export function checkNgrokDomain(raw: string): Hint & { domain: string } {
  let d = raw.trim()
  if (!d) return { ...OK, domain: '' }
  d = d.replace(/^https?:\/\//i, '').replace(/\/$/, '')
  if (/[/ :]/.test(d) || !d) return { ...error(`The ngrok domain should look like you.ngrok.app, not “${raw.trim()}”.`), domain: '' }
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(d))
    return { ...error('A domain is names joined by dots, like you.ngrok.app.'), domain: '' }
  return { ...OK, domain: d.toLowerCase() }
}

/** How a saved authtoken comes back from Go: its last four characters. */
export const TOKEN_MASK = '••••'

export function maskToken(token: string): string {
  const t = token.trim()
  return t ? TOKEN_MASK + t.slice(-4) : ''
}

export function isMaskedToken(token: string): boolean {
  return token.trim().startsWith(TOKEN_MASK)
}

/** The token to send: "" (use the saved one) when the field shows the mask. */
export function tokenToSend(input: string): string {
  const t = input.trim()
  return isMaskedToken(t) ? '' : t
}

export function tokenProblem(input: string): Hint {
  const t = input.trim()
  if (!t || isMaskedToken(t)) return OK
  if (/\s/.test(t)) return error('An authtoken has no spaces: copy it again from the ngrok dashboard.')
  if (!/^[A-Za-z0-9_-]+$/.test(t)) return warn('ngrok authtokens are letters, digits and underscores: check that you copied the token and nothing else.')
  if (t.length < 20) return warn('That looks short for an ngrok authtoken (they are about 50 characters).')
  return OK
}

/** Relays, one per line (or separated by commas or spaces). */
export function parseRelays(text: string): { relays: string[]; problems: string[] } {
  const relays: string[] = []
  const problems: string[] = []
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `https://${item}`
    let u: URL | null = null
    try {
      u = new URL(withScheme)
    } catch {
      u = null
    }
    if (!u || !u.hostname || !/^https?:$/.test(u.protocol) || (u.pathname !== '/' && u.pathname !== '') || u.search) {
      problems.push(`“${item}” is not a relay address like https://bsky.network.`)
      continue
    }
    const url = `${u.protocol}//${u.host}`
    if (!relays.includes(url)) relays.push(url)
  }
  return { relays, problems }
}

export const DEFAULT_RELAYS = ['https://bsky.network']

/** A rotation key of your own: a did:key of a key type the PLC directory accepts. */
export function didKeyProblem(input: string): string {
  const s = input.trim()
  if (!s) return 'Paste the public key as a did:key, like did:key:zQ3sh….'
  if (!s.startsWith('did:key:')) return 'A rotation key is written as did:key:z… (the public key, never the private one).'
  const body = s.slice('did:key:'.length)
  if (!/^z[1-9A-HJ-NP-Za-km-z]+$/.test(body)) return 'After did:key: comes z and the key in base58 (no 0, O, I or l).'
  if (!body.startsWith('zQ3s') && !body.startsWith('zDn'))
    return 'The PLC directory accepts secp256k1 (did:key:zQ3s…) and P-256 (did:key:zDn…) keys only.'
  if (body.length < 45) return 'This did:key is too short: check that you copied all of it.'
  return ''
}

/** A recovery (rotation) private key as exported: 64 hex digits. */
export function isPrivateKeyHex(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s)
}

/** "a1b2…" → the key in groups of 8, easier to copy by hand or on paper. */
export function groupKey(hex: string, size = 8): string {
  return hex.match(new RegExp(`.{1,${size}}`, 'g'))?.join(' ') ?? ''
}

/** Whether a tunnel's URL can double as your handle (Hearth answers for it). */
export function tunnelHandle(url: string): string {
  const h = hostnameOf(url)
  if (!h || isLocalHost(h) || /^[\d.]+$/.test(h) || h.includes(':') || !h.includes('.')) return ''
  return h
}

// --- the form ---------------------------------------------------------------

export interface PublishForm {
  kind: TunnelKind
  authtoken: string
  domain: string
  url: string
  relays: string // as typed, one per line
}

export const EMPTY_FORM: PublishForm = { kind: 'ngrok', authtoken: '', domain: '', url: '', relays: DEFAULT_RELAYS.join('\n') }

const FORM_KEY = 'hearth.publish'

/** The form as last used (never the authtoken, which Go keeps in desktop.json). */
export function recallForm(store: Pick<Storage, 'getItem'> | undefined): PublishForm {
  try {
    const v = JSON.parse(store?.getItem(FORM_KEY) ?? 'null') as Partial<PublishForm> | null
    if (!v || typeof v !== 'object') return { ...EMPTY_FORM }
    const str = (x: unknown, d: string) => (typeof x === 'string' ? x : d)
    const kind: TunnelKind = v.kind === 'byo' || v.kind === 'loopback' || v.kind === 'ngrok' ? v.kind : 'ngrok'
    return { kind, authtoken: '', domain: str(v.domain, ''), url: str(v.url, ''), relays: str(v.relays, EMPTY_FORM.relays) }
  } catch {
    return { ...EMPTY_FORM }
  }
}

export function rememberForm(store: Pick<Storage, 'setItem'> | undefined, f: PublishForm): void {
  try {
    store?.setItem(FORM_KEY, JSON.stringify({ kind: f.kind, domain: f.domain, url: f.url, relays: f.relays }))
  } catch {
    // storage full or off: the form is only a convenience
  }
}

/** The running configuration as a form (the token comes back masked). */
export function formFromConfig(c: PublishConfig, prev: PublishForm): PublishForm {
  const kind = c.kind === 'ngrok' || c.kind === 'byo' || c.kind === 'loopback' ? c.kind : prev.kind
  return {
    kind,
    authtoken: c.authtoken || prev.authtoken,
    domain: c.domain ?? '',
    url: c.url ?? '',
    relays: (c.relays?.length ? c.relays : DEFAULT_RELAYS).join('\n'),
  }
}

/** What the form asks for: problems that block starting, and the config to send. */
export function checkForm(f: PublishForm): { problems: Partial<Record<'authtoken' | 'domain' | 'url' | 'relays', string>>; config: PublishConfig } {
  const problems: Partial<Record<'authtoken' | 'domain' | 'url' | 'relays', string>> = {}
  const config: PublishConfig = { kind: f.kind, authtoken: '', domain: '', url: '', relays: [] }
  const relays = parseRelays(f.relays)
  if (relays.problems.length) problems.relays = relays.problems.join(' ')
  config.relays = relays.relays
  if (f.kind === 'ngrok') {
    const t = tokenProblem(f.authtoken)
    if (t.level === 'error') problems.authtoken = t.message
    const d = checkNgrokDomain(f.domain)
    if (d.level === 'error') problems.domain = d.message
    config.authtoken = tokenToSend(f.authtoken)
    config.domain = d.domain
  } else if (f.kind === 'byo') {
    const u = checkPublicURL(f.url)
    if (u.level === 'error') problems.url = u.message
    config.url = u.url
  }
  return { problems, config }
}

const TEST_FLAG = 'hearth.testTunnels'

/**
 * The loopback tunnel is for automated tests only: offered when the
 * window's localStorage has hearth.testTunnels = "1" or the frontend was
 * built with VITE_HEARTH_TEST_TUNNELS=1.
 */
export function testTunnelsEnabled(
  store: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage,
  env: Record<string, unknown> = import.meta.env ?? {},
): boolean {
  if (env.VITE_HEARTH_TEST_TUNNELS === '1') return true
  try {
    return store?.getItem(TEST_FLAG) === '1'
  } catch {
    return false
  }
}

// --- the tunnel status from events and polls ---------------------------------

/**
 * A tunnel status time as [milliseconds, nanoseconds within the ms], so
 * statuses set within the same millisecond still order; null for Go's zero
 * time (no tunnel was ever started) or an unreadable value.
 */
export function sinceKey(iso: string | undefined): [number, number] | null {
  const m = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso ?? '')
  if (!m || Number(m[1]) <= 1) return null
  const frac = (m[7] ?? '').padEnd(9, '0').slice(0, 9)
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac.slice(0, 3)}${m[8]}`)
  if (Number.isNaN(ms)) return null
  return [ms, Number(frac.slice(3))]
}

function newer(a: [number, number], b: [number, number]): boolean {
  return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1]
}

/**
 * The status to show when another arrives: "tunnel" events and answers of
 * PublishingStatus can arrive in any order, so the newest (by its time)
 * wins. A polled answer with no time means no tunnel exists at all: it is
 * the truth (the panel drops polls that crossed a start or stop).
 */
export function mergeTunnel(cur: TunnelStatus | null, inc: TunnelStatus, source: 'event' | 'poll'): TunnelStatus {
  const b = sinceKey(inc.since)
  // Polled "stopped" with a time: the tunnel was just created and has not
  // started connecting (a stopped tunnel is removed, and polls then carry
  // no time); "stopped" events are real stops.
  if (source === 'poll' && b && inc.state === 'stopped') inc = { ...inc, state: 'connecting' }
  if (!cur) return inc
  const a = sinceKey(cur.since)
  if (!b) return source === 'poll' ? inc : cur
  if (!a) return inc
  return newer(a, b) ? cur : inc
}
