// The Go side, as Wails exposes it: window.go.app.App.<Method>(...) returns a
// Promise (rejected with the Go error's text) and window.runtime carries the
// events. Typed by hand from app/bindings.go so the frontend builds and tests
// without the generated wailsjs/ folder.
import type {
  AccountInfo,
  AccountSettings,
  AppSettings,
  LogEntry,
  ImageUpload,
  NewAppPassword,
  ProfileInput,
  BackupInfo,
  BackupResult,
  BackupSchedule,
  BlobList,
  BlobRef,
  CARInfo,
  CloseRequest,
  Collection,
  CommitInfo,
  ConnectedApp,
  DeveloperInfo,
  EventInfo,
  HandleInstructions,
  HistoryEntry,
  Page,
  PostInput,
  Progress,
  PublishConfig,
  PublishStatus,
  RecordView,
  RecoveryKeyExport,
  SelfCheckResult,
  StatusInfo,
  TunnelStatus,
  OutsideCheck,
  NgrokTokenCheck,
  VerifyReport,
  WriteResult,
} from './types'

export interface GoApp {
  Account(): Promise<AccountInfo | null>
  CreateAccount(handle: string, password: string, email: string): Promise<AccountInfo>
  CreateAccountWithDIDWeb(handle: string, password: string, email: string, domain: string): Promise<AccountInfo>
  CreateInviteCode(uses: number): Promise<string>
  OpenDataDir(dir: string): Promise<string>
  Status(): Promise<StatusInfo>
  DeveloperInfo(): Promise<DeveloperInfo>
  StartError(): Promise<string>
  UploadBlob(mimeType: string, dataBase64: string): Promise<BlobRef>
  Post(input: PostInput): Promise<WriteResult>
  DeleteRecord(uri: string): Promise<void>
  Timeline(cursor: string): Promise<Page>
  ListRecords(collection: string, cursor: string): Promise<Page>
  Collections(): Promise<Collection[] | null>
  GetRecord(uri: string): Promise<RecordView>
  Search(query: string): Promise<RecordView[] | null>
  CurrentCommit(): Promise<CommitInfo>
  History(): Promise<HistoryEntry[] | null>
  Blobs(): Promise<BlobList>
  CleanUpBlobs(): Promise<number>
  SaveBlob(cid: string): Promise<string>
  ExportCAR(): Promise<string>
  InspectCAR(): Promise<CARInfo | null>
  ImportCAR(path: string, confirmLossAt: string): Promise<CARInfo>
  OpenCARReadOnly(): Promise<CARInfo | null>
  CARRecords(collection: string, cursor: string): Promise<Page>
  CARRecord(uri: string): Promise<RecordView>
  CloseCAR(): Promise<void>
  VerifyData(): Promise<VerifyReport>
  // Closing the window while publishing (app/window.go)
  KeepServingInBackground(): Promise<void>
  StopAndQuit(): Promise<void>
  // Publishing (app/publish.go)
  StartPublishing(cfg: PublishConfig): Promise<PublishStatus>
  StopPublishing(): Promise<void>
  PublishingStatus(): Promise<PublishStatus>
  SelfCheck(): Promise<SelfCheckResult[] | null>
  CheckNgrokToken(token: string): Promise<NgrokTokenCheck>
  ExportRecoveryKey(): Promise<RecoveryKeyExport>
  CreateRecoveryKey(): Promise<RecoveryKeyExport>
  AddRotationKey(didKey: string): Promise<void>
  HandleSetup(handle: string): Promise<HandleInstructions>
  SetHandle(handle: string): Promise<AccountInfo>
  // Backups, restore and the portable export (app/backup.go)
  BackupSettings(): Promise<BackupInfo>
  SetBackupPassphrase(passphrase: string): Promise<BackupInfo>
  SetBackupSchedule(s: BackupSchedule): Promise<BackupInfo>
  ChooseBackupFolder(): Promise<string>
  BackUpNow(passphrase: string, folder: string): Promise<BackupResult | null>
  RestoreBackup(path: string, passphrase: string): Promise<AccountInfo | null>
  ExportEverything(): Promise<string>
  // Apps signed in with OAuth (app/oauth.go)
  ConnectedApps(): Promise<ConnectedApp[] | null>
  RevokeConnectedApp(id: string): Promise<ConnectedApp[] | null>
  // Pictures readied like the Bluesky app does (app/images.go)
  UploadImage(dataBase64: string, purpose: 'post' | 'avatar' | 'banner'): Promise<ImageUpload>
  // Account settings (app/settings.go)
  GetAccountSettings(): Promise<AccountSettings>
  SaveProfile(input: ProfileInput): Promise<WriteResult>
  ChangeHandle(handle: string): Promise<AccountInfo>
  ChangePassword(current: string, next: string): Promise<void>
  CreateAppPassword(name: string, privileged: boolean): Promise<NewAppPassword>
  RevokeAppPassword(name: string): Promise<void>
  SetEmail(email: string, code: string): Promise<boolean>
  RequestEmailConfirmation(): Promise<void>
  ConfirmEmail(code: string): Promise<void>
  SetAccountActive(active: boolean): Promise<void>
  DeleteAccount(confirm: string, password: string): Promise<void>
  // Settings and logs (app/general_settings.go)
  GetAppSettings(): Promise<AppSettings>
  SetStartAtLogin(on: boolean): Promise<void>
  Logs(): Promise<LogEntry[] | null>
  BugReport(): Promise<string>
}

interface WailsRuntime {
  EventsOn(name: string, cb: (...data: unknown[]) => void): () => void
  BrowserOpenURL(url: string): void
  ClipboardSetText?(text: string): Promise<boolean>
}

declare global {
  interface Window {
    go?: { app?: { App?: GoApp } }
    runtime?: WailsRuntime
  }
}

export class NotConnectedError extends Error {
  constructor() {
    super('The window is not connected to Hearth (the Wails bindings are missing).')
  }
}

/** The bound App, looked up on each call so a late-injected runtime works. */
export const go: GoApp = new Proxy({} as GoApp, {
  get(_t, name: string) {
    return (...args: unknown[]) => {
      const app = window.go?.app?.App as unknown as Record<string, (...a: unknown[]) => Promise<unknown>> | undefined
      if (!app || typeof app[name] !== 'function') return Promise.reject(new NotConnectedError())
      return app[name](...args)
    }
  },
})

export function connected(): boolean {
  return !!window.go?.app?.App
}

/** Waits (briefly) for Wails to inject its bindings. */
export async function waitForBindings(timeoutMs = 10000): Promise<boolean> {
  const start = Date.now()
  while (!connected()) {
    if (Date.now() - start > timeoutMs) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

export function onProgress(cb: (p: Progress) => void): () => void {
  return on('progress', (p) => cb(p as Progress))
}

export function onEvent(cb: (e: EventInfo) => void): () => void {
  return on('event', (e) => cb(e as EventInfo))
}

/** The "tunnel" event: the tunnel's status, on every change. */
export function onOutsideCheck(cb: (c: OutsideCheck) => void): () => void {
  return on('outside-check', (c) => cb(c as OutsideCheck))
}

export function onTunnel(cb: (t: TunnelStatus) => void): () => void {
  return on('tunnel', (t) => cb(t as TunnelStatus))
}

/**
 * The "close-requested" event: the window was closed while publishing; the
 * app keeps running until the person says to keep serving or to quit.
 */
export function onCloseRequested(cb: (r: CloseRequest) => void): () => void {
  return on('close-requested', (r) => cb((r ?? { publicURL: '' }) as CloseRequest))
}

/**
 * Puts text on the clipboard: through Wails (the system clipboard, which
 * works in every webview), else the browser's clipboard API. False when
 * neither could.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (window.runtime?.ClipboardSetText && (await window.runtime.ClipboardSetText(text))) return true
  } catch {
    // fall through to the browser's clipboard
  }
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    return false
  }
}

function on(name: string, cb: (data: unknown) => void): () => void {
  const rt = window.runtime
  if (!rt?.EventsOn) return () => {}
  const off = rt.EventsOn(name, (data: unknown) => cb(data))
  return typeof off === 'function' ? off : () => {}
}

/** Opens a web link in the system browser (never inside the app's window). */
export function openExternal(url: string): void {
  if (window.runtime?.BrowserOpenURL) window.runtime.BrowserOpenURL(url)
  else window.open(url, '_blank', 'noopener')
}
