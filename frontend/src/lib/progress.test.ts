import { describe, expect, it } from 'vitest'
import { describe as say, overall, percent } from './progress'

describe('progress math', () => {
  it('computes whole percents, clamped', () => {
    expect(percent({ done: 0, total: 10 })).toBe(0)
    expect(percent({ done: 1, total: 3 })).toBe(33)
    expect(percent({ done: 10, total: 10 })).toBe(100)
    expect(percent({ done: 12, total: 10 })).toBe(100)
    expect(percent({ done: -1, total: 10 })).toBe(0)
  })

  it('is indeterminate without a total', () => {
    expect(percent({ done: 5, total: 0 })).toBeNull()
    expect(percent(null)).toBeNull()
    expect(percent(undefined)).toBeNull()
  })

  it('spreads an import over its phases', () => {
    expect(overall({ job: 'import', phase: 'read', done: 50, total: 100 })).toBe(16)
    expect(overall({ job: 'import', phase: 'verify', done: 7, total: 0 })).toBe(33)
    expect(overall({ job: 'import', phase: 'write', done: 0, total: 10 })).toBe(66)
    expect(overall({ job: 'import', phase: 'write', done: 10, total: 10 })).toBe(100)
    expect(overall({ job: 'export', phase: 'export', done: 3, total: 4 })).toBe(75)
    expect(overall({ job: 'inspect', phase: 'verify', done: 1, total: 2 })).toBe(75)
    expect(overall({ job: 'other', phase: 'x', done: 1, total: 4 })).toBe(25)
    expect(overall({ job: 'import', phase: 'unknown', done: 1, total: 4 })).toBe(25)
    expect(overall(undefined)).toBeNull()
  })

  it('never goes backwards within a job as phases advance', () => {
    const steps = [
      { phase: 'read', done: 0, total: 100 },
      { phase: 'read', done: 100, total: 100 },
      { phase: 'verify', done: 3, total: 0 },
      { phase: 'write', done: 0, total: 5 },
      { phase: 'write', done: 5, total: 5 },
    ].map((s) => overall({ job: 'import', ...s })!)
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThanOrEqual(steps[i - 1])
  })

  it('describes phases in words', () => {
    expect(say({ job: 'import', phase: 'read', done: 1_200_000, total: 3_400_000 })).toBe('Reading the file — 1.2 MB of 3.4 MB')
    expect(say({ job: 'import', phase: 'write', done: 12, total: 40 })).toBe('Writing records — 12 of 40')
    expect(say({ job: 'import', phase: 'verify', done: 1500, total: 0 })).toBe('Checking the repository — 1,500 so far')
    expect(say({ job: 'export', phase: 'export', done: 0, total: 0 })).toBe('Writing the CAR file')
    expect(say({ job: 'x', phase: 'mystery', done: 0, total: 0 })).toBe('Mystery')
    expect(say(null)).toBe('')
  })

  it('counts bytes while a backup copies or restores blobs', () => {
    expect(say({ job: 'backup', phase: 'copying blobs', done: 1_200_000, total: 3_400_000 })).toBe('Copying blobs — 1.2 MB of 3.4 MB')
    expect(say({ job: 'restore', phase: 'restoring blobs', done: 2_000, total: 4_000 })).toBe('Restoring blobs — 2 KB of 4 KB')
    expect(say({ job: 'backup', phase: 'copying the database', done: 0, total: 0 })).toBe('Copying the database')
  })
})
