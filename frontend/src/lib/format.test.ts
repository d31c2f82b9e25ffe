import { describe, expect, it } from 'vitest'
import { errorText, eventKind, eventMeaning, formatBytes, formatTime, plural, shortCID } from './format'

describe('formatBytes', () => {
  it.each([
    [0, '0 bytes'],
    [1, '1 byte'],
    [999, '999 bytes'],
    [1000, '1 KB'],
    [1536, '1.5 KB'],
    [99_949, '99.9 KB'],
    [999_400, '999 KB'],
    [999_949, '1 MB'],
    [999_999, '1 MB'],
    [1_000_000, '1 MB'],
    [12_345_678, '12.3 MB'],
    [123_456_789, '123 MB'],
    [5e9, '5 GB'],
    [2.5e12, '2.5 TB'],
  ])('%d -> %s', (n, s) => expect(formatBytes(n)).toBe(s))

  it('rejects nonsense', () => {
    expect(formatBytes(-1)).toBe('—')
    expect(formatBytes(Number.NaN)).toBe('—')
  })
})

describe('small helpers', () => {
  it('pluralises', () => {
    expect(plural(1, 'record')).toBe('1 record')
    expect(plural(0, 'record')).toBe('0 records')
    expect(plural(1200, 'match', 'matches')).toBe('1,200 matches')
  })

  it('shortens CIDs', () => {
    const cid = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    expect(shortCID(cid)).toBe('bafyreigh2…4s52zy')
    expect(shortCID('short')).toBe('short')
  })

  it('formats times', () => {
    const now = new Date('2026-03-04T12:00:00Z')
    expect(formatTime('2026-03-04T10:00:00Z', now)).toMatch(/^Today /)
    expect(formatTime('2025-01-02T10:00:00Z', now)).toMatch(/2025/)
    expect(formatTime('not a time', now)).toBe('not a time')
    expect(formatTime('', now)).toBe('')
  })

  it('turns Go errors into sentences', () => {
    expect(errorText('InvalidRequest: this CAR holds the repo of did:plc:x, not of did:plc:y')).toBe(
      'This CAR holds the repo of did:plc:x, not of did:plc:y.',
    )
    expect(errorText('handle already taken')).toBe('Handle already taken.')
    expect(errorText(new Error('boom!'))).toBe('Boom!')
    expect(errorText({ message: 'from object' })).toBe('From object.')
    expect(errorText('InvalidHandle: alice.example.com does not resolve to your DID yet')).toBe(
      'alice.example.com does not resolve to your DID yet.',
    )
    expect(errorText('did:plc:x is not here')).toBe('did:plc:x is not here.')
    expect(errorText('no ngrok authtoken: paste yours')).toBe('No ngrok authtoken: paste yours.')
    expect(errorText('facets: bad index')).toBe('Facets: bad index.')
    expect(errorText('timeout. try again')).toBe('Timeout. try again.')
    expect(errorText('')).toMatch(/no details/)
    expect(errorText(undefined)).toMatch(/no details/)
  })
})

describe('event kinds', () => {
  it('drops the # and explains', () => {
    expect(eventKind('#commit')).toBe('commit')
    expect(eventKind('sync')).toBe('sync')
    expect(eventMeaning('#sync')).toBe('Repository replaced (import)')
    expect(eventMeaning('#commit', 0)).toBe('New, empty repository')
    expect(eventMeaning('#commit', 2)).toBe('')
    expect(eventMeaning('#identity')).toMatch(/Handle/)
    expect(eventMeaning('#weird')).toBe('')
  })
})
