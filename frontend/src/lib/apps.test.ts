import { describe, expect, it } from 'vitest'
import { appSummary, daysAgo, endsIn } from './apps'
import type { ConnectedApp } from './types'

const now = new Date(2026, 5, 15, 12, 0, 0)
const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString()

describe('daysAgo', () => {
  it.each([
    [at(0), 'today'],
    [at(-1), 'yesterday'],
    [at(-5), '5 days ago'],
    ['', 'never'],
    ['not a date', 'never'],
  ])('%s → %s', (iso, want) => expect(daysAgo(iso, now)).toBe(want))
  it('gives the date for old ones', () => expect(daysAgo(at(-90), now)).toMatch(/2026/))
})

describe('endsIn', () => {
  it.each([
    [at(0.5), 'within a day'],
    [at(1.5), 'tomorrow'],
    [at(14), 'in 14 days'],
    [at(365), 'in about 12 months'],
    ['', ''],
  ])('%s → %s', (iso, want) => expect(endsIn(iso, now)).toBe(want))
})

describe('appSummary', () => {
  const app: ConnectedApp = {
    id: 'g1', name: 'Statusphere', clientId: 'https://statusphere.example/client-metadata.json', site: 'https://statusphere.example',
    loopback: false, permissions: [], scope: 'atproto', signedInAt: at(-2), lastUsedAt: at(-1), expiresAt: at(12),
  }
  it('says when it was used and when it ends', () => {
    const s = appSummary(app, now)
    expect(s).toMatch(/^Last used yesterday · signed in until .* \(in 12 days\)$/)
  })
  it('leaves out an unknown end', () => expect(appSummary({ ...app, expiresAt: '' }, now)).toBe('Last used yesterday'))
})
