// A bare atproto OAuth loopback client for the GUI test (node:crypto only):
// DPoP proofs (ES256) with the server's nonce, PAR with PKCE, the code
// exchange and DPoP-bound XRPC calls. The consent page itself is driven in
// the browser by the test, as a person would.
import crypto from 'node:crypto'

const b64u = (b) => Buffer.from(b).toString('base64url')

export class LoopbackApp {
  constructor(base, scope) {
    this.base = base.replace(/\/$/, '')
    this.scope = scope
    this.redirect = 'http://127.0.0.1:9/callback'
    this.clientId = `http://localhost?${new URLSearchParams({ redirect_uri: this.redirect, scope })}`
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    this.key = privateKey
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
    this.jwk = { kty, crv, x, y }
    this.nonce = ''
  }

  proof(method, url, token) {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: this.jwk }
    const claims = { htm: method, htu: url.split('?')[0], iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() }
    if (this.nonce) claims.nonce = this.nonce
    if (token) claims.ath = b64u(crypto.createHash('sha256').update(token).digest())
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`
    const sig = crypto.sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' })
    return `${input}.${b64u(sig)}`
  }

  // fetch with a DPoP proof, once more with the nonce the server asks for.
  async send(method, url, { body, type, token } = {}) {
    for (let i = 0; i < 2; i++) {
      const headers = { DPoP: this.proof(method, url, token) }
      if (type) headers['Content-Type'] = type
      if (token) headers.Authorization = `DPoP ${token}`
      const res = await fetch(url, { method, headers, body })
      this.nonce = res.headers.get('dpop-nonce') || this.nonce
      const json = await res.json().catch(() => ({}))
      const wantsNonce = json.error === 'use_dpop_nonce' || /error="use_dpop_nonce"/.test(res.headers.get('www-authenticate') ?? '')
      if (!wantsNonce) return { status: res.status, json }
    }
    throw new Error('the server kept asking for a new DPoP nonce')
  }

  form(path, fields) {
    return this.send('POST', this.base + path, { body: new URLSearchParams(fields).toString(), type: 'application/x-www-form-urlencoded' })
  }

  /** Pushes the request; returns the consent page's URL. */
  async authorizeURL() {
    this.verifier = b64u(crypto.randomBytes(32))
    const challenge = b64u(crypto.createHash('sha256').update(this.verifier).digest())
    const { status, json } = await this.form('/oauth/par', {
      client_id: this.clientId, response_type: 'code', redirect_uri: this.redirect, scope: this.scope,
      state: 'gui', code_challenge: challenge, code_challenge_method: 'S256',
    })
    if (status !== 201) throw new Error(`PAR: ${status} ${JSON.stringify(json)}`)
    return `${this.base}/oauth/authorize?${new URLSearchParams({ client_id: this.clientId, request_uri: json.request_uri })}`
  }

  /** Exchanges the code of the authorization response (a redirect URL). */
  async finish(redirectURL) {
    const q = new URL(redirectURL).searchParams
    if (!q.get('code')) throw new Error(`no code in ${redirectURL}`)
    const { status, json } = await this.form('/oauth/token', {
      grant_type: 'authorization_code', code: q.get('code'), code_verifier: this.verifier,
      redirect_uri: this.redirect, client_id: this.clientId,
    })
    if (status !== 200) throw new Error(`token: ${status} ${JSON.stringify(json)}`)
    this.access = json.access_token
    return json
  }

  xrpc(method, nsid) {
    return this.send(method, `${this.base}/xrpc/${nsid}`, { token: this.access })
  }
}
