// The JSON shapes of the Go methods bound by Wails (app/bindings.go).

export interface AccountInfo {
  did: string
  handle: string
  email: string
  status: string
  plcPublished: number
  plcPending: number
  published: boolean
  explanation: string
}

export interface EventInfo {
  seq: number
  did: string
  kind: string
  time: string
}

/** app/developer.go DeveloperInfo: where an app connects. */
export interface DeveloperInfo {
  xrpcUrl: string
  jetstreamUrl: string
  publicXrpcUrl: string
  publicJetstreamUrl: string
  plcUrl: string
}

export interface StatusInfo {
  dataDir: string
  localURL: string
  publicURL: string
  seq: number
  subscribers: number
  recent: EventInfo[]
  relayCrawl: string[]
  /** Why desktop.json cannot be read or saved (absent when it can). */
  settingsError?: string
}

export interface ImageInput {
  cid: string
  mimeType: string
  size: number
  alt: string
  width: number
  height: number
}

export interface PostInput {
  text: string
  facets: unknown[] | null
  images: ImageInput[]
  replyTo: string
  langs: string[]
}

export interface WriteResult {
  uri: string
  cid: string
  validationStatus: string
}

export interface BlobRef {
  cid: string
  mimeType: string
  size: number
}

export interface RecordImage {
  url: string
  alt: string
  cid: string
}

export interface RecordView {
  uri: string
  cid: string
  json: string
  text: string
  createdAt: string
  images: RecordImage[] | null
  replyTo: string
}

export interface Page {
  records: RecordView[]
  cursor: string
}

export interface Collection {
  name: string
  count: number
}

export interface CommitInfo {
  cid: string
  rev: string
  signingKey: string
}

export interface HistoryEntry {
  seq: number
  kind: string
  time: string
  rev: string
  commit: string
  ops: string[]
}

export interface BlobView {
  cid: string
  mimeType: string
  size: number
  createdAt: string
  referenced: boolean
  usedBy: string[]
  url: string
}

export interface BlobList {
  blobs: BlobView[]
  count: number
  totalBytes: number
  unreferenced: number
  unreferencedBytes: number
  diskBytes: number
}

export interface Progress {
  job: string // "export", "import", "inspect", "open", "verify", "backup", "restore", "exportAll"
  phase: string
  done: number
  total: number
}

// pds.VerifyReport: what "Verify everything" found (as `hearthd verify`).
export interface VerifyReport {
  ok: boolean
  database_problems: string[] | null
  accounts: {
    did: string
    handle: string
    rev: string
    commit: string
    records: number
    blobs: number
    repo_problems: string[] | null
    damaged_blobs: { cid: string; reason: string }[] | null
  }[]
  events: { first_seq: number; last_seq: number; count: number; gaps: string[] | null }
}

export interface CARInfo {
  path: string
  did: string
  rev: string
  records: number
  collections: Collection[]
  blobs: number
  bytes: number
  forThisAccount: boolean
  // What importing it would lose (null: nothing); see app.LossInfo.
  loss: LossInfo | null
}

// What an import would lose: records your repository holds now that are
// absent or different in the CAR (app/bindings.go LossInfo).
export interface LossInfo {
  head: string // pass back to ImportCAR to confirm the loss
  rev: string
  older: boolean
  records: number
  missing: number
  changed: number
  collections: LostCollection[]
  posts: LostPost[] // the newest lost posts (at most 10)
  postsLost: number
}

export interface LostCollection {
  name: string
  missing: number
  changed: number
}

export interface LostPost {
  uri: string
  text: string
  createdAt: string
  changed: boolean
}

// Publishing (app/publish.go).

/** How the PDS is put on the internet; "loopback" exists for tests only. */
export type TunnelKind = 'ngrok' | 'byo' | 'loopback'

export type TunnelState = 'stopped' | 'connecting' | 'online' | 'offline'

/** tunnel.Status: the Publish panel's status line, also sent as the "tunnel" event. */
export interface TunnelStatus {
  kind: string
  state: TunnelState
  url: string // the public URL while online (and the last one after)
  reason: string // why offline, one plain sentence
  detail: string // the raw error behind it (folds out)
  stuck: boolean // retrying cannot help (a wrong token): Hearth waits for new settings
  since: string // RFC 3339 with nanoseconds; year 1 when publishing never started
}

/** A relay under the reachability supervisor (pds/reach). */
export type RelayState = 'idle' | 'announcing' | 'subscribed' | 'not-subscribed'

export interface RelayStatus {
  relay: string
  state: RelayState
  attempts: number // crawl requests sent for this hostname
  lastError: string // why not subscribed, or why not asked
  hostname: string
  explicit: boolean // named by the user: asked even for a local URL
  hostStatus: string // the relay's own word (active, idle, offline, throttled, banned)
  seq: number // the last seq of ours the relay reports having seen
  hasSeq: boolean
  nextRetry: string // RFC 3339; year 1 when none
  lastCheck: string
}

/** CheckNgrokToken's answer: one plain sentence, the raw error to fold out. */
export interface NgrokTokenCheck {
  ok: boolean
  kind: '' | 'invalid-token' | 'account-limit' | 'domain' | 'no-network' | 'other'
  sentence: string
  detail: string
}

/** The honest publishing status: the outside check (app/reach.go). */
export type OutsideState = 'off' | 'down' | 'checking' | 'verified' | 'failing'

export interface OutsideCheck {
  state: OutsideState
  url: string
  checkedAt: string
  nextCheck: string
  checks: SelfCheckResult[] | null
  failing: string // the first failing step
  hint: string // and how to fix it
  passed: number
}

export interface PublishConfig {
  kind: TunnelKind | ''
  authtoken: string // masked ("••••abcd") when it comes back from Go
  domain: string
  url: string
  relays: string[] | null
}

export interface PublishStatus {
  tunnel: TunnelStatus
  relays: RelayStatus[] | null
  pdsEndpoint: string // the PDS address in the account's latest signed identity operation
  pendingOps: number
  refusedOps: number
  lastError: string
  config: PublishConfig
  outside: OutsideCheck
}

export interface SelfCheckResult {
  name: string
  ok: boolean
  detail: string
  hint: string
}

export interface RecoveryKeyExport {
  privateKeyHex: string
  didKey: string
  warning: string
}

export interface HandleInstructions {
  handle: string
  dnsName: string
  dnsValue: string
  wellKnownURL: string
  wellKnownBody: string
}

// The "close-requested" event (app/window.go CloseRequest).
export interface CloseRequest {
  publicURL: string // where the PDS is reachable now ('' while the tunnel connects)
}

// app.BackupInfo (app/backup.go): the backup schedule and the last backup.
export interface BackupInfo {
  enabled: boolean
  folder: string
  everyHours: number
  keep: number
  hasPassphrase: boolean // kept in the OS keyring
  lastGood: string // RFC 3339, "" for never
  lastGoodFile: string
  lastError: string
  nextDue: string
  running: boolean
}

// app.BackupSchedule: what the user sets.
export interface BackupSchedule {
  enabled: boolean
  folder: string
  everyHours: number
  keep: number
}

// app.BackupResult: one finished backup.
export interface BackupResult {
  path: string
  bytes: number
  records: number
  blobs: number
  takenAt: string
  removed: number
  duration: string
}

// app.ConnectedApp: an app signed in to the account with OAuth (app/oauth.go).
export interface ConnectedApp {
  id: string
  name: string // the app's name (client_name), its host, or "An app on this computer"
  clientId: string
  site: string // the client_id's origin; "" for loopback (development) apps
  loopback: boolean
  permissions: string[] // in plain language
  scope: string
  signedInAt: string // RFC 3339
  lastUsedAt: string
  expiresAt: string // when it has to sign in again
}

// Account settings (app/settings.go)
export interface Profile {
  displayName: string
  description: string
  avatar: BlobRef | null
  banner: BlobRef | null
  avatarUrl: string
  bannerUrl: string
  cid: string
}

export interface ProfileInput {
  displayName: string
  description: string
  avatar: BlobRef | null
  banner: BlobRef | null
  baseCid: string
}

/** What the reference PDS would have emailed (the outbox). */
export interface OutboxMessage {
  purpose: string
  token: string
  email: string
  createdAt: string
  expiresAt: string
  expired: boolean
}

export interface AppPasswordInfo {
  name: string
  createdAt: string
  privileged: boolean
}

export interface NewAppPassword extends AppPasswordInfo {
  password: string
}

export interface AccountSettings {
  did: string
  handle: string
  email: string
  emailConfirmed: boolean
  emailNote: string
  outbox: OutboxMessage[] | null
  active: boolean
  status: string
  userDomains: string[] | null
  appPasswords: AppPasswordInfo[] | null
  profile: Profile
  blueskyUrl: string
}

/** A picture readied and stored by App.UploadImage (app/images.go). */
export interface ImageUpload extends BlobRef {
  width: number
  height: number
  originalSize: number
  resized: boolean
  reencoded: boolean
  stripped: boolean
}

// The Settings screen and the log viewer (app/general_settings.go, app/logring.go)
export interface AppSettings {
  dataDir: string
  localURL: string
  relays: string[] | null
  relayNote: string
  relaysDefault: boolean
  appView: AppViewSetting
  plcURL: string
  startAtLogin: { supported: boolean; on: boolean; path: string; system: string; note: string }
  developer: { allowPrivateNetwork: boolean; userDomains: string[] | null; keyStore: string }
}

// The AppView app.bsky.* calls go to (app/appview.go)
export interface AppViewSetting {
  url: string
  did: string
  source: 'default' | 'settings' | 'environment'
  defaultURL: string
  defaultDID: string
  locked: string // why it cannot be edited here ("" = editable)
}

export interface LogEntry {
  time: string
  level: string
  message: string
  attrs: string
  source: 'engine' | 'tunnel'
}

// The Move in / Move out wizards (app/move.go, app/moving)
export interface MoveStartInput {
  direction: 'in' | 'out'
  remoteUrl: string
  identifier: string
  newHandle: string
  email: string
  inviteCode: string
  oldPassword: string
  newPassword: string
}

/** What the user gives a waiting move (moving.Input). */
export interface MoveInput {
  oldPassword?: string
  emailCode?: string
  newPassword?: string
  plcToken?: string
  inviteCode?: string
  newHandle?: string
  confirm?: boolean
  resendToken?: boolean
}

export type MoveNeed = '' | 'old_password' | 'email_code' | 'confirm' | 'new_password' | 'plc_token' | 'invite_code' | 'handle'

export interface MoveStepView {
  id: string
  label: string
  status: 'done' | 'running' | 'waiting' | 'failed' | 'pending'
}

export interface MoveSummary {
  did: string
  handle: string
  collections: Record<string, number> | null
  records: number
  blobs: number
  preferences: number
  newServiceDid: string
  inviteRequired: boolean
  userDomains: string[] | null
}

export interface MoveBlobProgress {
  expected: number
  imported: number
  copied: number
  skipped: number
  missing: string[] | null
}

export interface MoveCollectionCount {
  collection: string
  old: number
  new: number
}

export interface MoveReport {
  collections: MoveCollectionCount[] | null
  oldRecords: number
  newRecords: number
  oldBlobs: number
  newBlobs: number
  missingBlobs: string[] | null
  oldPreferences: number
  newPreferences: number
  oldHandle: string
  newHandle: string
  plcEndpoint: string
  plcOk: boolean
  newActive: boolean
  oldStatus: string
  ok: boolean
}

export interface MoveView {
  /** Orders views: the window keeps the highest (a late event may arrive after a call's result). */
  seq: number
  direction: 'in' | 'out'
  oldUrl: string
  newUrl: string
  did: string
  newHandle: string
  email: string
  steps: MoveStepView[]
  next: string
  need: MoveNeed
  problem: string
  running: boolean
  done: boolean
  summary: MoveSummary | null
  blobs: MoveBlobProgress
  report: MoveReport | null
  updatedAt: string
  canDiscard: boolean
  warning: string
}
