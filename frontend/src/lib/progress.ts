// Progress of long jobs (CAR export/import/inspect), from the Go side's
// "progress" events {job, phase, done, total}.
import type { Progress } from './types'
import { formatBytes } from './format'

/** Percent done (0…100, whole numbers), or null when the total is unknown. */
export function percent(p: Pick<Progress, 'done' | 'total'> | null | undefined): number | null {
  if (!p || !(p.total > 0)) return null
  const v = (p.done / p.total) * 100
  if (!Number.isFinite(v)) return null
  return Math.max(0, Math.min(100, Math.floor(v)))
}

const PHASES: Record<string, string> = {
  read: 'Reading the file',
  verify: 'Checking the repository',
  write: 'Writing records',
  export: 'Writing the CAR file',
}

// Phases whose counters are bytes; the others count items.
const BYTE_PHASES = new Set(['read', 'copying blobs', 'restoring blobs', 'restoring the database'])

/** "Reading the file — 1.2 MB of 3.4 MB", "Writing records — 12 of 40". */
export function describe(p: Progress | null | undefined): string {
  if (!p) return ''
  const name = PHASES[p.phase] ?? (p.phase ? p.phase.charAt(0).toUpperCase() + p.phase.slice(1) : 'Working')
  const fmt = BYTE_PHASES.has(p.phase) ? formatBytes : (n: number) => n.toLocaleString('en-US')
  if (p.total > 0) return `${name} — ${fmt(p.done)} of ${fmt(p.total)}`
  if (p.done > 0) return `${name} — ${fmt(p.done)}${BYTE_PHASES.has(p.phase) ? '' : ' so far'}`
  return name
}

/** Phase order of each job, to turn per-phase progress into one bar. */
const JOB_PHASES: Record<string, string[]> = {
  import: ['read', 'verify', 'write'],
  inspect: ['read', 'verify'],
  open: ['read', 'verify'],
  export: ['export'],
}

/**
 * Overall percent of a job across its phases (each phase an equal share),
 * null when the current phase has no total and nothing is known yet.
 */
export function overall(p: Progress | null | undefined): number | null {
  if (!p) return null
  const phases = JOB_PHASES[p.job]
  const within = percent(p)
  if (!phases) return within
  const i = phases.indexOf(p.phase)
  if (i < 0) return within
  const share = 100 / phases.length
  if (within === null) return Math.floor(i * share)
  return Math.min(100, Math.floor(i * share + (within / 100) * share))
}
