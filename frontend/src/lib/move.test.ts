import { describe, expect, it } from 'vitest'
import { blobPercent, interrupted, needTitle, startProblems, stepsPercent } from './move'
import type { MoveStartInput, MoveView } from './types'

const base: MoveStartInput = {
  direction: 'in',
  remoteUrl: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  newHandle: '',
  email: 'a@example.com',
  inviteCode: '',
  oldPassword: 'old',
  newPassword: 'long-enough',
}

function view(over: Partial<MoveView>): MoveView {
  return {
    seq: 1, direction: 'in', oldUrl: '', newUrl: '', did: '', newHandle: '', email: '', next: 'sign_in', need: '', problem: '',
    running: false, done: false, summary: null, report: null, updatedAt: '', canDiscard: true, warning: '',
    blobs: { expected: 0, imported: 0, copied: 0, skipped: 0, missing: null },
    steps: [
      { id: 'sign_in', label: '', status: 'done' },
      { id: 'copy_blobs', label: '', status: 'running' },
      { id: 'report', label: '', status: 'pending' },
      { id: 'x', label: '', status: 'pending' },
    ],
    ...over,
  }
}

describe('startProblems', () => {
  const cases: [string, Partial<MoveStartInput>, string[]][] = [
    ['a good move in', {}, []],
    ['no address', { remoteUrl: ' ' }, ['remoteUrl']],
    ['an address with a path', { remoteUrl: 'https://pds.example/xrpc/x' }, ['remoteUrl']],
    ['a bare host', { remoteUrl: 'pds.example.com' }, []],
    ['a port', { remoteUrl: 'http://localhost:2583' }, []],
    ['no identifier, password or email', { identifier: '', oldPassword: '', email: 'nope' }, ['identifier', 'oldPassword', 'email']],
    ['a short new password', { newPassword: 'short' }, ['newPassword']],
    ['move out needs a handle', { direction: 'out', identifier: '', email: '' }, ['newHandle']],
    ['a good move out', { direction: 'out', identifier: '', email: '', newHandle: 'me.example.com' }, []],
  ]
  for (const [name, over, want] of cases) {
    it(name, () => {
      expect(Object.keys(startProblems({ ...base, ...over })).sort()).toEqual(want.sort())
    })
  }
})

describe('progress', () => {
  it('counts done steps', () => {
    expect(stepsPercent(null)).toBe(0)
    expect(stepsPercent(view({}))).toBe(25)
    expect(stepsPercent(view({ done: true }))).toBe(100)
  })
  it('follows the blob copy', () => {
    expect(blobPercent(view({}))).toBeNull()
    expect(blobPercent(view({ blobs: { expected: 4, imported: 1, copied: 1, skipped: 0, missing: null } }))).toBe(25)
    expect(blobPercent(view({ steps: [{ id: 'copy_blobs', label: '', status: 'done' }] }))).toBe(100)
  })
  it('knows an interrupted move', () => {
    expect(interrupted(null)).toBe(false)
    expect(interrupted(view({}))).toBe(true)
    expect(interrupted(view({ running: true }))).toBe(false)
    expect(interrupted(view({ done: true }))).toBe(false)
  })
  it('names what a move waits for', () => {
    expect(needTitle('')).toBe('')
    expect(needTitle('plc_token')).toContain('code')
  })
})
