// Handles (and did:web domains) as a person types them.

/** "@Alice.Example.com " → "alice.example.com". */
export function normalizeHandle(h: string): string {
  return h.trim().replace(/^@/, '').toLowerCase()
}

/** What is wrong with a handle, in words ("" when nothing is). */
export function handleProblem(handle: string): string {
  const h = normalizeHandle(handle)
  if (!h) return 'Choose a handle.'
  if (!h.includes('.')) return 'A handle is a domain name, like alice.example.com (or alice.test to try things out).'
  if (!/^[a-z0-9.-]+$/.test(h)) return 'Use only letters, digits, dots and hyphens.'
  if (h.split('.').some((p) => !p || p.startsWith('-') || p.endsWith('-'))) return 'Each part between dots must start and end with a letter or digit.'
  return ''
}

/** A domain for did:web: a plain domain name (no scheme, port or path). */
export function domainProblem(domain: string): string {
  const d = domain.trim().toLowerCase()
  if (!d) return 'Enter the domain you own, like alice.example.com.'
  if (/^[a-z]+:\/\//.test(d) || /[/:]/.test(d)) return 'Only the domain name, like alice.example.com: no https://, port or path.'
  const p = handleProblem(d)
  if (p) return p.replace(/^A handle is a domain name/, 'Use a domain name').replace('Choose a handle.', 'Enter the domain you own.')
  if (/\.(alt|arpa|example|internal|invalid|local|localhost|onion)$/.test(d)) return 'did:web needs a domain on the internet; this kind of name never is.'
  return ''
}
