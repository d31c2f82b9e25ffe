// The Go side, as Wails exposes it: window.go.app.App.<Method>(...) returns a
// Promise (rejected with the Go error's text) and window.runtime carries the
// events. Typed by hand from app/bindings.go so the frontend builds and tests
// without the generated wailsjs/ folder.
import type {
  AccountInfo,
  BlobList,
  BlobRef,
  CARInfo,
  Collection,
  CommitInfo,
  EventInfo,
  HistoryEntry,
  Page,
  PostInput,
  Progress,
  RecordView,
  StatusInfo,
  WriteResult,
} from './types'

export interface GoApp {
  Account(): Promise<AccountInfo | null>
  CreateAccount(handle: string, password: string, email: string): Promise<AccountInfo>
  OpenDataDir(dir: string): Promise<string>
  Status(): Promise<StatusInfo>
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
  ImportCAR(path: string): Promise<CARInfo>
  OpenCARReadOnly(): Promise<CARInfo | null>
  CARRecords(collection: string, cursor: string): Promise<Page>
  CARRecord(uri: string): Promise<RecordView>
  CloseCAR(): Promise<void>
}

interface WailsRuntime {
  EventsOn(name: string, cb: (...data: unknown[]) => void): () => void
  BrowserOpenURL(url: string): void
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
