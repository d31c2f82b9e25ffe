import { describe, expect, it } from 'vitest'
import {
  ago,
  checkForm,
  checkNgrokDomain,
  checkPublicURL,
  didKeyProblem,
  EMPTY_FORM,
  endpointMatches,
  formFromConfig,
  groupKey,
  isLocalURL,
  isMaskedToken,
  isPrivateKeyHex,
  parseRelayCrawl,
  relayStateLabel,
  maskToken,
  mergeTunnel,
  parseRelays,
  plcView,
  recallForm,
  relayView,
  rememberForm,
  sinceKey,
  testTunnelsEnabled,
  tokenProblem,
  tokenToSend,
  tunnelHandle,
  tunnelView,
  verified,
  retryIn,
} from './publish'
import type { OutsideCheck, RelayStatus, TunnelStatus } from './types'

const ZERO = '0001-01-01T00:00:00Z'
const tunnel = (state: TunnelStatus['state'], since: string, extra: Partial<TunnelStatus> = {}): TunnelStatus => ({
  kind: 'ngrok',
  state,
  url: '',
  reason: '',
  detail: '',
  stuck: false,
  since,
  ...extra,
})

class MemStore {
  m = new Map<string, string>()
  getItem(k: string) {
    return this.m.get(k) ?? null
  }
  setItem(k: string, v: string) {
    this.m.set(k, v)
  }
}

const outside = (o: Partial<OutsideCheck>): OutsideCheck => ({
  state: 'verified',
  url: 'https://abc.ngrok.app',
  checkedAt: ZERO,
  nextCheck: ZERO,
  checks: [],
  failing: '',
  hint: '',
  passed: 4,
  ...o,
})

describe('tunnel status in words and colours (honest)', () => {
  it.each([
    ['stopped', 'Off', 'muted'],
    ['connecting', 'Connecting…', 'info'],
    ['online', 'Online', 'ok'],
    ['offline', 'Offline', 'danger'],
  ] as const)('%s → %s (%s) with a passing outside check', (state, label, tone) => {
    const v = tunnelView(tunnel(state, ZERO, { url: 'https://abc.ngrok.app', reason: 'x' }), outside({}))
    expect(v.label).toBe(label)
    expect(v.tone).toBe(tone)
  })

  it('online is never claimed without a passing outside check for this URL', () => {
    const t = tunnel('online', ZERO, { url: 'https://abc.ngrok.app' })
    expect(tunnelView(t).label).toBe('Checking…')
    expect(tunnelView(t, outside({ state: 'checking' })).label).toBe('Checking…')
    expect(tunnelView(t, outside({ url: 'https://old.ngrok.app' })).label).toBe('Checking…')
    const f = tunnelView(t, outside({ state: 'failing', failing: 'Your DID document points at this PDS', hint: 'wait a moment or check the PLC status', passed: 3 }))
    expect(f).toMatchObject({ label: 'Not reachable', tone: 'warn' })
    expect(f.text).toBe(
      'The tunnel is up at https://abc.ngrok.app, but the outside check fails at “Your DID document points at this PDS”. Wait a moment or check the PLC status.',
    )
    expect(verified(t, outside({}))).toBe(true)
    expect(verified(t, outside({ state: 'failing' }))).toBe(false)
    expect(verified(tunnel('offline', ZERO, { url: 'https://abc.ngrok.app' }), outside({}))).toBe(false)
  })

  it('says why it is offline, as a sentence', () => {
    const v = tunnelView(tunnel('offline', ZERO, { reason: 'the tunnel connection was lost: EOF' }))
    expect(v.text).toBe('The tunnel connection was lost: EOF. Hearth keeps trying to reconnect.')
    expect(tunnelView(tunnel('offline', ZERO)).text).toMatch(/^The tunnel is down\./)
    const stuck = tunnelView(tunnel('offline', ZERO, { stuck: true, reason: 'ngrok did not accept this authtoken: copy it again.' }))
    expect(stuck.text).toBe('Ngrok did not accept this authtoken: copy it again. Hearth does not retry this on its own: fix it, then start publishing again.')
  })

  it('marks a local test address as such', () => {
    const t = tunnel('online', ZERO, { url: 'http://localhost:4321' })
    expect(tunnelView(t, outside({ url: t.url })).text).toMatch(/only this computer/)
    expect(tunnelView(tunnel('online', ZERO, { url: 'https://abc.ngrok.app' }), outside({})).text).toBe(
      'Your PDS is on the internet at https://abc.ngrok.app; the outside check passes.',
    )
  })

  it('no status is off', () => {
    expect(tunnelView(null).label).toBe('Off')
  })
})

describe('relay status under the supervisor', () => {
  const relay = (r: Partial<RelayStatus>): RelayStatus => ({
    relay: 'https://bsky.network',
    state: 'idle',
    attempts: 0,
    lastError: '',
    hostname: '',
    explicit: false,
    hostStatus: '',
    seq: 0,
    hasSeq: false,
    nextRetry: ZERO,
    lastCheck: ZERO,
    ...r,
  })
  const now = Date.parse('2026-01-01T12:00:00Z')

  it('subscribed, with the last seq the relay reports', () => {
    const v = relayView(relay({ state: 'subscribed', hostname: 'abc.ngrok.app', hasSeq: true, seq: 42 }))
    expect(v).toMatchObject({ label: 'Subscribed', tone: 'ok' })
    expect(v.text).toBe('The relay follows abc.ngrok.app; it has seen up to event #42.')
    expect(relayView(relay({ state: 'subscribed', hostname: 'h', lastError: 'the relay does not report host status; 1 connected' })).text).toMatch(
      /does not report host status/,
    )
  })

  it('not subscribed: the reason and the next retry', () => {
    const v = relayView(
      relay({ state: 'not-subscribed', lastError: 'the relay does not know this host', nextRetry: '2026-01-01T12:00:40Z' }),
      '',
      now,
    )
    expect(v).toMatchObject({ label: 'Not subscribed', tone: 'warn' })
    expect(v.text).toBe('The relay does not know this host. Hearth asks again in 40 s.')
    expect(retryIn('2026-01-01T12:05:00Z', now)).toBe('Hearth asks again in 5 min.')
    expect(retryIn(ZERO, now)).toBe('')
  })

  it('the Status screen has only "relay: state"', () => {
    expect(parseRelayCrawl('https://bsky.network: subscribed')).toEqual({ relay: 'https://bsky.network', state: 'subscribed' })
    expect(parseRelayCrawl('http://127.0.0.1:9: not-subscribed')).toEqual({ relay: 'http://127.0.0.1:9', state: 'not-subscribed' })
    expect(parseRelayCrawl('odd')).toEqual({ relay: 'odd', state: '' })
    expect(relayStateLabel('not-subscribed')).toEqual({ label: 'Not subscribed', tone: 'warn' })
    expect(relayStateLabel('subscribed').tone).toBe('ok')
    expect(relayStateLabel('idle').label).toBe('Not asked')
    expect(relayStateLabel('').label).toBe('Unknown')
  })

  it('idle explains why', () => {
    expect(relayView(relay({}), 'http://localhost:5000').text).toMatch(/local address/)
    expect(relayView(relay({}), '').text).toMatch(/once the tunnel is online/)
    expect(relayView(relay({})).tone).toBe('muted')
  })
})

describe('identity publication', () => {
  it('refused beats pending beats published', () => {
    expect(plcView({ pendingOps: 2, refusedOps: 1, lastError: 'invalid signature' })).toMatchObject({ label: '1 refused', tone: 'danger' })
    expect(plcView({ pendingOps: 2, refusedOps: 1, lastError: 'invalid signature' }).text).toMatch(/Invalid signature\./)
    expect(plcView({ pendingOps: 2, refusedOps: 0, lastError: '' })).toMatchObject({ label: '2 waiting', tone: 'warn' })
    expect(plcView({ pendingOps: 1, refusedOps: 0, lastError: '' }).text).toMatch(/^One identity update is/)
    expect(plcView({ pendingOps: 0, refusedOps: 0, lastError: '' })).toMatchObject({ label: 'Published', tone: 'ok' })
  })

  it('compares the DID document endpoint with the tunnel URL', () => {
    expect(endpointMatches('https://abc.ngrok.app', 'https://abc.ngrok.app/')).toBe(true)
    expect(endpointMatches('http://localhost:2583', 'https://abc.ngrok.app')).toBe(false)
    expect(endpointMatches('', '')).toBe(false)
  })
})

describe('public URL hints (bring your own)', () => {
  it.each([
    ['https://pds.example.com', '', 'https://pds.example.com'],
    ['  https://pds.example.com/ ', '', 'https://pds.example.com'],
    ['https://PDS.Example.com', '', 'https://pds.example.com'],
    ['http://localhost:2583', 'warn', 'http://localhost:2583'],
    ['http://127.0.0.1:2583', 'warn', 'http://127.0.0.1:2583'],
    ['https://localhost', 'warn', 'https://localhost'],
    ['https://pds.example.com:8443', 'warn', 'https://pds.example.com:8443'],
    ['http://pds.example.com', 'error', ''],
    ['https://pds.example.com/pds', 'error', ''],
    ['https://pds.example.com/?x=1', 'error', ''],
    ['pds.example.com', 'error', ''],
    ['ftp://pds.example.com', 'error', ''],
    ['', 'error', ''],
    ['not a url', 'error', ''],
  ])('%j → %j', (raw, level, url) => {
    const h = checkPublicURL(raw)
    expect(h.level).toBe(level)
    expect(h.url).toBe(url)
    if (level) expect(h.message).not.toBe('')
  })

  it('suggests the fix', () => {
    expect(checkPublicURL('pds.example.com').message).toBe('Start with https://, like https://pds.example.com.')
    expect(checkPublicURL('http://pds.example.com').message).toMatch(/^Use https/)
    expect(checkPublicURL('https://pds.example.com/x').message).toMatch(/Leave out the path/)
    expect(checkPublicURL('https://pds.example.com:8443').message).toMatch(/:8443/)
  })

  it('knows local URLs', () => {
    expect(isLocalURL('http://localhost:1')).toBe(true)
    expect(isLocalURL('http://pds.localhost')).toBe(true)
    expect(isLocalURL('http://[::1]:80')).toBe(true)
    expect(isLocalURL('https://abc.ngrok.app')).toBe(false)
    expect(isLocalURL('nonsense')).toBe(false)
  })
})

describe('ngrok settings', () => {
  it('domain: optional, scheme and slash dropped as in Go', () => {
    expect(checkNgrokDomain('')).toEqual({ level: '', message: '', domain: '' })
    expect(checkNgrokDomain('https://You.ngrok.app/').domain).toBe('you.ngrok.app')
    expect(checkNgrokDomain('you.ngrok.app:443').level).toBe('error')
    expect(checkNgrokDomain('you.ngrok.app/x').level).toBe('error')
    expect(checkNgrokDomain('you').level).toBe('error')
  })

  it('masks the token the way Go does, and never sends the mask back', () => {
    expect(maskToken('2abcDEFghiJKLmno_pqrSTUvwx1234')).toBe('••••1234')
    expect(maskToken('  ')).toBe('')
    expect(isMaskedToken('••••1234')).toBe(true)
    expect(tokenToSend('••••1234')).toBe('')
    expect(tokenToSend('  2abc_token ')).toBe('2abc_token')
    expect(tokenToSend('')).toBe('')
  })

  it('token hints', () => {
    expect(tokenProblem('').level).toBe('')
    expect(tokenProblem('••••1234').level).toBe('')
    expect(tokenProblem('2abcDEFghiJKLmno_pqrSTUvwx1234567890abcdefghij').level).toBe('')
    expect(tokenProblem('2abc def').level).toBe('error')
    expect(tokenProblem('short').level).toBe('warn')
    expect(tokenProblem('authtoken: 2abcDEFghiJKLmno').level).toBe('error') // has a space
    expect(tokenProblem('"2abcDEFghiJKLmno_pqrSTUvwx"').level).toBe('warn')
  })
})

describe('relays', () => {
  it('one per line, https added, duplicates dropped', () => {
    expect(parseRelays('https://bsky.network\nrelay.example.com, https://bsky.network/')).toEqual({
      relays: ['https://bsky.network', 'https://relay.example.com'],
      problems: [],
    })
    expect(parseRelays('')).toEqual({ relays: [], problems: [] })
    expect(parseRelays('https://r.example.com/xrpc').problems).toHaveLength(1)
    expect(parseRelays('ftp://r.example.com').problems).toHaveLength(1)
  })
})

describe('keys', () => {
  it('did:key hints', () => {
    expect(didKeyProblem('did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF')).toBe('')
    expect(didKeyProblem('did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169')).toBe('')
    expect(didKeyProblem('')).toMatch(/Paste/)
    expect(didKeyProblem('zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF')).toMatch(/did:key:z/)
    expect(didKeyProblem('did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK')).toMatch(/secp256k1/)
    expect(didKeyProblem('did:key:zQ3sh0OIl')).toMatch(/base58/)
    expect(didKeyProblem('did:key:zQ3shXjHei')).toMatch(/too short/)
  })

  it('recovery key export', () => {
    expect(isPrivateKeyHex('a'.repeat(64))).toBe(true)
    expect(isPrivateKeyHex('A'.repeat(64))).toBe(false)
    expect(isPrivateKeyHex('a'.repeat(63))).toBe(false)
    expect(groupKey('0123456789abcdef01')).toBe('01234567 89abcdef 01')
  })

  it('a tunnel hostname can be the handle', () => {
    expect(tunnelHandle('https://abc-123.ngrok-free.app')).toBe('abc-123.ngrok-free.app')
    expect(tunnelHandle('http://localhost:4000')).toBe('')
    expect(tunnelHandle('https://10.0.0.1')).toBe('')
    expect(tunnelHandle('')).toBe('')
  })
})

describe('the form', () => {
  it('remembers everything but the token', () => {
    const s = new MemStore()
    rememberForm(s, { kind: 'byo', authtoken: 'secret-token', domain: '', url: 'https://pds.example.com', relays: 'https://bsky.network' })
    expect(s.getItem('hearth.publish')).not.toMatch(/secret/)
    expect(recallForm(s)).toEqual({ kind: 'byo', authtoken: '', domain: '', url: 'https://pds.example.com', relays: 'https://bsky.network' })
    expect(recallForm(new MemStore())).toEqual(EMPTY_FORM)
    s.setItem('hearth.publish', '{not json')
    expect(recallForm(s)).toEqual(EMPTY_FORM)
    s.setItem('hearth.publish', '{"kind":"pigeon","url":5}')
    expect(recallForm(s)).toMatchObject({ kind: 'ngrok', url: '' })
    expect(recallForm(undefined)).toEqual(EMPTY_FORM)
  })

  it('shows the running configuration', () => {
    const f = formFromConfig({ kind: 'ngrok', authtoken: '••••1234', domain: 'you.ngrok.app', url: '', relays: null }, EMPTY_FORM)
    expect(f).toEqual({ kind: 'ngrok', authtoken: '••••1234', domain: 'you.ngrok.app', url: '', relays: 'https://bsky.network' })
    // Publishing off: Go sends an empty config; keep what the form had.
    expect(formFromConfig({ kind: '', authtoken: '', domain: '', url: '', relays: null }, { ...EMPTY_FORM, kind: 'byo' }).kind).toBe('byo')
  })

  it('blocks only on errors, and builds the config Go expects', () => {
    const ngrok = checkForm({ ...EMPTY_FORM, kind: 'ngrok', authtoken: '••••1234', domain: 'https://you.ngrok.app/' })
    expect(ngrok.problems).toEqual({})
    expect(ngrok.config).toEqual({ kind: 'ngrok', authtoken: '', domain: 'you.ngrok.app', url: '', relays: ['https://bsky.network'] })

    const byo = checkForm({ ...EMPTY_FORM, kind: 'byo', url: 'http://pds.example.com', relays: 'nope/x' })
    expect(Object.keys(byo.problems).sort()).toEqual(['relays', 'url'])

    const local = checkForm({ ...EMPTY_FORM, kind: 'byo', url: 'http://localhost:2583', relays: '' })
    expect(local.problems).toEqual({})
    expect(local.config).toMatchObject({ url: 'http://localhost:2583', relays: [] })

    expect(checkForm({ ...EMPTY_FORM, kind: 'loopback' }).config).toMatchObject({ kind: 'loopback', authtoken: '', url: '' })
  })

  it('hides the test tunnel unless asked for', () => {
    const s = new MemStore()
    expect(testTunnelsEnabled(s, {})).toBe(false)
    s.setItem('hearth.testTunnels', '1')
    expect(testTunnelsEnabled(s, {})).toBe(true)
    expect(testTunnelsEnabled(undefined, { VITE_HEARTH_TEST_TUNNELS: '1' })).toBe(true)
    expect(testTunnelsEnabled(undefined, {})).toBe(false)
  })
})

describe('tunnel status ordering', () => {
  it('reads Go times to the nanosecond, and the zero time as none', () => {
    expect(sinceKey(ZERO)).toBeNull()
    expect(sinceKey('')).toBeNull()
    expect(sinceKey('garbage')).toBeNull()
    expect(sinceKey('2026-11-22T10:31:02.123456789+01:00')).toEqual([Date.parse('2026-11-22T09:31:02.123Z'), 456789])
    expect(sinceKey('2026-11-22T10:31:02Z')).toEqual([Date.parse('2026-11-22T10:31:02Z'), 0])
    expect(sinceKey('2026-11-22T10:31:02.5Z')).toEqual([Date.parse('2026-11-22T10:31:02.500Z'), 0])
  })

  const connecting = tunnel('connecting', '2026-11-22T10:31:02.100000001Z')
  const online = tunnel('online', '2026-11-22T10:31:02.100000002Z', { url: 'http://localhost:5000' })
  const stopped = tunnel('stopped', '2026-11-22T10:35:00Z', { url: 'http://localhost:5000' })
  const none = tunnel('stopped', ZERO, { kind: '' })

  it('an older status never replaces a newer one', () => {
    expect(mergeTunnel(null, connecting, 'event')).toBe(connecting)
    expect(mergeTunnel(connecting, online, 'event')).toBe(online)
    // StartPublishing's answer (taken when it was still connecting) after the online event.
    expect(mergeTunnel(online, connecting, 'poll')).toBe(online)
    expect(mergeTunnel(online, stopped, 'event')).toBe(stopped)
    expect(mergeTunnel(stopped, online, 'event')).toBe(stopped)
  })

  it('a polled tunnel that exists but has not started yet is connecting', () => {
    const created = tunnel('stopped', '2026-11-22T10:31:02.1Z')
    expect(mergeTunnel(null, created, 'poll').state).toBe('connecting')
    expect(mergeTunnel(none, created, 'poll').state).toBe('connecting')
    expect(mergeTunnel(online, created, 'poll')).toBe(online)
    expect(mergeTunnel(online, stopped, 'event').state).toBe('stopped')
  })

  it('no tunnel at all (zero time) counts only from a poll', () => {
    expect(mergeTunnel(online, none, 'poll')).toBe(none)
    expect(mergeTunnel(online, none, 'event')).toBe(online)
    expect(mergeTunnel(none, connecting, 'event')).toBe(connecting)
  })

  it('says how long ago', () => {
    const now = Date.parse('2026-11-22T12:00:00Z')
    expect(ago('2026-11-22T11:59:30Z', now)).toBe('just now')
    expect(ago('2026-11-22T11:57:00Z', now)).toBe('3 min ago')
    expect(ago('2026-11-22T09:00:00Z', now)).toBe('3 h ago')
    expect(ago('2026-11-18T12:00:00Z', now)).toBe('4 days ago')
    expect(ago(ZERO, now)).toBe('')
  })
})
