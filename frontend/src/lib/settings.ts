// The Settings screen's checks (app/appview.go's CheckAppView and
// app/relays.go's CheckRelays have the last word): hints shown while typing.

/** Why an AppView URL and DID would be refused ("" when they look right). */
export function appViewProblem(rawURL: string, did: string, allowPrivate: boolean): string {
  const s = rawURL.trim().replace(/\/+$/, '')
  let u: URL | null = null
  try {
    u = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? new URL(s) : null
  } catch {
    u = null
  }
  if (!u || !u.hostname || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password)
    return 'The AppView URL must look like https://api.example.com (no path, no query).'
  if (u.protocol === 'http:') {
    if (!allowPrivate)
      return 'The AppView URL must start with https:// (http:// works only for a loopback AppView with the developer option HEARTH_ALLOW_PRIVATE_NETWORK).'
    const h = u.hostname.toLowerCase().replace(/^\[|\]$/g, '')
    if (h !== 'localhost' && h !== '::1' && !/^127\.\d+\.\d+\.\d+$/.test(h))
      return 'http:// is accepted only for an AppView on this computer (localhost, 127.0.0.1, ::1); use https:// for any other.'
  } else if (u.protocol !== 'https:') {
    return 'The AppView URL must start with https://.'
  }
  const [bare, ...frag] = did.trim().split('#')
  if (!/^did:(web|plc):[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/.test(bare))
    return 'The AppView DID must be a did:web or did:plc, such as did:web:api.bsky.app.'
  if (frag.length > 1 || (frag.length === 1 && (frag[0] === '' || /\s/.test(frag[0]))))
    return 'The AppView DID’s service id after # must be one word, such as #bsky_appview.'
  return ''
}

/** Where the start-at-login entry goes, in words, for this system. */
export function startAtLoginText(system: string, path: string): string {
  switch (system) {
    case 'darwin':
      return `Adds a LaunchAgent, ${path}, that macOS opens when you log in.`
    case 'windows':
      return `Adds the registry value ${path}, which Windows runs when you log in.`
    default:
      return `Adds ${path}, the autostart entry your desktop opens when you log in.`
  }
}
