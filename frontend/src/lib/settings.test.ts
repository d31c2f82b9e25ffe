import { describe, expect, it } from 'vitest'
import { appViewProblem, startAtLoginText } from './settings'

describe('appViewProblem', () => {
  it.each([
    ['https://api.bsky.app', 'did:web:api.bsky.app', false, ''],
    ['https://appview.example.com/', 'did:web:appview.example.com#bsky_appview', false, ''],
    ['https://appview.example.com:8443', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', false, ''],
    ['http://127.0.0.1:2584', 'did:web:localhost%3A2584', true, ''],
    ['http://[::1]:2584', 'did:web:localhost', true, ''],
    ['http://127.0.0.1:2584', 'did:web:localhost', false, 'https://'],
    ['http://appview.lan', 'did:web:appview.lan', true, 'on this computer'],
    ['ftp://appview.example.com', 'did:web:x.example', false, 'https://'],
    ['appview.example.com', 'did:web:x.example', false, 'no path'],
    ['https://appview.example.com/xrpc', 'did:web:x.example', false, 'no path'],
    ['https://appview.example.com?x=1', 'did:web:x.example', false, 'no path'],
    ['', 'did:web:x.example', false, 'no path'],
    ['https://appview.example.com', 'did:key:zQ3sh', false, 'did:web or did:plc'],
    ['https://appview.example.com', 'appview.example.com', false, 'did:web or did:plc'],
    ['https://appview.example.com', 'did:web:x.example#', false, 'service id'],
    ['https://appview.example.com', 'did:web:x.example#a#b', false, 'service id'],
  ])('%s %s (private %s)', (url, did, allowPrivate, want) => {
    const got = appViewProblem(url, did, allowPrivate)
    if (want === '') expect(got).toBe('')
    else expect(got).toContain(want)
  })
})

describe('startAtLoginText', () => {
  it('names the entry for each system', () => {
    expect(startAtLoginText('darwin', '/Users/a/Library/LaunchAgents/app.hearth.Hearth.plist')).toMatch(/^Adds a LaunchAgent, \/Users/)
    expect(startAtLoginText('windows', 'HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\hearth')).toMatch(/registry value HKEY_CURRENT_USER/)
    expect(startAtLoginText('linux', '/home/a/.config/autostart/hearth.desktop')).toBe(
      'Adds /home/a/.config/autostart/hearth.desktop, the autostart entry your desktop opens when you log in.',
    )
  })
})
