// The Move in / Move out wizards' pure helpers: form checks, progress and
// what a waiting move asks for.
import type { MoveNeed, MoveStartInput, MoveView } from './types'

/** Problems with the start form, by field ('' = none). */
export function startProblems(f: MoveStartInput): Partial<Record<keyof MoveStartInput, string>> {
  const p: Partial<Record<keyof MoveStartInput, string>> = {}
  const url = f.remoteUrl.trim()
  if (!url) p.remoteUrl = 'The address of the other PDS, like https://bsky.social.'
  else if (!/^(https?:\/\/)?[a-z0-9.-]+(:\d+)?\/?$/i.test(url)) p.remoteUrl = 'Just the address, like https://pds.example.com.'
  if (f.direction === 'in') {
    if (!f.identifier.trim()) p.identifier = 'Your handle (or DID or email) on the old PDS.'
    if (!f.oldPassword) p.oldPassword = 'The password of your account on the old PDS.'
    if (!/^[^@\s]+@[^@\s]+$/.test(f.email.trim())) p.email = 'An email address for the account on Hearth.'
  } else {
    if (!f.oldPassword) p.oldPassword = 'Your Hearth password.'
    if (!f.newHandle.trim()) p.newHandle = 'Your handle on the new PDS.'
  }
  if (f.newPassword.length < 8) p.newPassword = 'At least 8 characters.'
  return p
}

/** Share of the steps done (0…100). */
export function stepsPercent(v: MoveView | null): number {
  if (!v || !v.steps?.length) return 0
  if (v.done) return 100
  const done = v.steps.filter((s) => s.status === 'done').length
  return Math.floor((done / v.steps.length) * 100)
}

/** Blob copy percent, or null before the copy knows its total. */
export function blobPercent(v: MoveView | null): number | null {
  const b = v?.blobs
  if (!b || !(b.expected > 0)) return v?.steps?.some((s) => s.id === 'copy_blobs' && s.status === 'done') ? 100 : null
  return Math.max(0, Math.min(100, Math.floor((b.imported / b.expected) * 100)))
}

const NEEDS: Record<Exclude<MoveNeed, ''>, string> = {
  old_password: 'Sign in to the old PDS',
  email_code: 'The code the old PDS emailed you',
  confirm: 'Start the move',
  new_password: 'The password for the new PDS',
  plc_token: 'The code the old PDS emailed you to confirm the move',
  invite_code: 'An invite code for the new PDS',
  handle: 'Choose a handle',
}

/** The title of the prompt for what a waiting move needs. */
export function needTitle(n: MoveNeed): string {
  return n ? NEEDS[n] : ''
}

/** Whether a move needs the user to resume it (stopped, not running, not done). */
export function interrupted(v: MoveView | null): boolean {
  return !!v && !v.done && !v.running
}
