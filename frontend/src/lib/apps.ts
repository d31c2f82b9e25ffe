// Connected apps: how the screen words an app's dates.
import type { ConnectedApp } from './types'
import { formatTime } from './format'

const DAY = 24 * 60 * 60 * 1000

/** "today", "yesterday", "3 days ago", or the date for older ones. */
export function daysAgo(iso: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (!iso || Number.isNaN(d.getTime())) return 'never'
  const start = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime()
  const days = Math.round((start(now) - start(d)) / DAY)
  if (days <= 0) return 'today'
  if (days === 1) return 'yesterday'
  if (days < 30) return `${days} days ago`
  return formatTime(iso, now)
}

/** When the app's sign-in ends, in words: "in 14 days", "tomorrow". */
export function endsIn(iso: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (!iso || Number.isNaN(d.getTime())) return ''
  const days = Math.floor((d.getTime() - now.getTime()) / DAY)
  if (days < 1) return 'within a day'
  if (days === 1) return 'tomorrow'
  if (days < 60) return `in ${days} days`
  return `in about ${Math.round(days / 30)} months`
}

/** The line under an app's name. */
export function appSummary(a: ConnectedApp, now: Date = new Date()): string {
  const parts = [`Last used ${daysAgo(a.lastUsedAt, now)}`]
  const ends = endsIn(a.expiresAt, now)
  if (ends) parts.push(`signed in until ${formatTime(a.expiresAt, now)} (${ends})`)
  return parts.join(' · ')
}
