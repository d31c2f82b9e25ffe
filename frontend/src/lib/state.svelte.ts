// The window's shared state (Svelte 5 runes): which screen is showing, the
// account, progress of long jobs, live events, notices and the one modal
// confirmation dialog.
import type { AccountInfo, BlobRef, CARInfo, EventInfo, OutsideCheck, Progress, TunnelStatus } from './types'
import { mergeTunnel } from './publish'

export type Screen = 'home' | 'blobs' | 'repo' | 'backup' | 'status' | 'publish' | 'account' | 'settings' | 'apps' | 'developer'

export const SCREENS: { id: Screen; label: string; key: string }[] = [
  { id: 'home', label: 'Posts', key: '1' },
  { id: 'blobs', label: 'Blobs', key: '2' },
  { id: 'repo', label: 'Repository', key: '3' },
  { id: 'backup', label: 'Export & import', key: '4' },
  { id: 'status', label: 'Status', key: '5' },
  { id: 'publish', label: 'Publish', key: '6' },
  { id: 'account', label: 'Account', key: '7' },
  { id: 'settings', label: 'Settings & logs', key: '8' },
  { id: 'apps', label: 'Connected apps', key: '9' },
  { id: 'developer', label: 'Developer', key: '0' },
]

export function screenFromHash(hash: string): Screen | null {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/)[0]
  return SCREENS.some((s) => s.id === id) ? (id as Screen) : null
}

export type CarAction = 'export' | 'import' | 'open'

/** Ctrl+<key> shortcuts for the CAR jobs, usable from every screen. */
export const CAR_SHORTCUTS: Record<string, CarAction> = { e: 'export', i: 'import', o: 'open' }

export interface Notice {
  id: number
  kind: 'ok' | 'error' | 'info'
  text: string
}

export interface ConfirmRequest {
  title: string
  body: string
  confirm: string
  danger?: boolean
  resolve: (ok: boolean) => void
}

let noticeID = 0

class AppState {
  account = $state<AccountInfo | null>(null)
  screen = $state<Screen>('home')
  localURL = $state('')
  /** A record the repository browser should open (set by other screens). */
  openURI = $state<string | null>(null)
  /** A blob the gallery should show (set by record links). */
  openBlob = $state<string | null>(null)
  /** The CAR file opened read-only, if any. */
  car = $state<CARInfo | null>(null)
  /** Latest progress of each job ("export", "import", "inspect", "open"). */
  progress = $state<Record<string, Progress | undefined>>({})
  /** Long jobs running now (the window stays usable meanwhile). */
  jobs = $state<string[]>([])
  events = $state<EventInfo[]>([])
  notices = $state<Notice[]>([])
  confirmReq = $state<ConfirmRequest | null>(null)
  /** Bumped whenever the repository changed (post, delete, import). */
  repoVersion = $state(0)
  /** A CAR action asked for by a shortcut (Ctrl+E, Ctrl+I, Ctrl+O). */
  carAction = $state<CarAction | null>(null)
  /** Stored blobs to attach to the next post (the gallery's "Use in a new post"). */
  attach = $state<BlobRef[]>([])
  /** The publishing tunnel (from "tunnel" events and the Publish panel's polls). */
  tunnel = $state<TunnelStatus | null>(null)
  /** The outside check ("outside-check" events and the Publish panel's polls): "Online" only while verified. */
  outside = $state<OutsideCheck | null>(null)

  go(screen: Screen) {
    this.screen = screen
    if (typeof location !== 'undefined' && screenFromHash(location.hash) !== screen) {
      history.replaceState(null, '', `#${screen}`)
    }
  }

  openRecord(uri: string) {
    this.openURI = uri
    this.go('repo')
  }

  /** Attaches a stored picture to a new post and shows the composer. */
  attachToPost(b: BlobRef) {
    this.attach = [...this.attach, b]
    this.go('home')
  }

  showBlob(cid: string) {
    this.openBlob = cid
    this.go('blobs')
  }

  /** Runs a CAR job from anywhere: shows Export & import, which starts it. */
  requestCar(action: CarAction) {
    this.carAction = action
    this.go('backup')
  }

  changed() {
    this.repoVersion++
  }

  notify(text: string, kind: Notice['kind'] = 'ok', ms = kind === 'error' ? 0 : 5000) {
    const id = ++noticeID
    // At most three at a time: the oldest confirmations give way.
    this.notices = [...this.notices, { id, kind, text }].slice(-3)
    if (ms > 0) setTimeout(() => this.dismiss(id), ms)
  }

  dismiss(id: number) {
    this.notices = this.notices.filter((n) => n.id !== id)
  }

  confirm(opts: { title: string; body: string; confirm: string; danger?: boolean }): Promise<boolean> {
    this.confirmReq?.resolve(false)
    return new Promise((resolve) => {
      this.confirmReq = { ...opts, resolve }
    })
  }

  answer(ok: boolean) {
    const r = this.confirmReq
    this.confirmReq = null
    r?.resolve(ok)
  }

  setProgress(p: Progress) {
    this.progress = { ...this.progress, [p.job]: p }
  }

  /** Runs a long job, marking it busy and clearing its progress around it. */
  async job<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.jobs = [...this.jobs, name]
    this.progress = { ...this.progress, [name]: undefined }
    try {
      return await fn()
    } finally {
      this.jobs = this.jobs.filter((j) => j !== name)
      this.progress = { ...this.progress, [name]: undefined }
    }
  }

  busy(name: string): boolean {
    return this.jobs.includes(name)
  }

  /** A tunnel status arrived: the newest one wins (see mergeTunnel). */
  setTunnel(t: TunnelStatus, source: 'event' | 'poll') {
    this.tunnel = mergeTunnel(this.tunnel, t, source)
  }

  pushEvent(e: EventInfo) {
    if (this.events.some((x) => x.seq === e.seq)) return
    this.events = [e, ...this.events].slice(0, 50)
  }
}

export const app = new AppState()
