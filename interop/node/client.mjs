// A DPoP client nobody on jwtauth wrote, against a running jwtauth server
// (issue 24 step 5). interop/dpop_node_test.go runs it:
//
//	node client.mjs BASE_URL USERNAME
//
// BASE_URL is the server's issuer (http://127.0.0.1:PORT for `jwtauth serve`
// answering at the root). The script registers USERNAME with a random
// password, then, with one non-extractable ES256 key made by panva's `dpop`:
//
//  1. POST /login with a `dpop` proof (htu BASE_URL/login), expecting
//     token_type DPoP;
//  2. GET /protected with `Authorization: DPoP <token>` and a `dpop` proof
//     carrying ath;
//  3. POST /refresh with a `dpop` proof, then GET /protected again with the
//     new token;
//  4. GET /protected through oauth4webapi's protectedResourceRequest with its
//     DPoP handle on the same key, retrying once on use_dpop_nonce as
//     oauth4webapi documents (isDPoPNonceError).
//
// Server nonces (RFC 9449 §8, §9): a 400 or 401 use_dpop_nonce answer with a
// DPoP-Nonce header is retried once with that nonce, and later proofs carry
// the last nonce the server sent.
//
// It prints one JSON object to stdout: the statuses, token_type, the public
// JWK and its thumbprint, the tokens and the proofs it sent (for the Go side
// to replay), and proofs it made but never sent (spare). Any failure goes to
// stderr with exit status 1. Tokens and proofs never go to stderr.
import * as DPoP from 'dpop'
import * as oauth from 'oauth4webapi'
import { randomUUID } from 'node:crypto'

const [base, username] = process.argv.slice(2)
if (!base || !username) {
  console.error('usage: node client.mjs BASE_URL USERNAME')
  process.exit(2)
}
const issuer = base.replace(/\/+$/, '')
const password = `${randomUUID()} ${randomUUID()}`

let nonce // the last DPoP-Nonce the server sent
const out = { nonce_retries: 0 }

function fail(msg) {
  throw new Error(msg)
}

async function readJSON(res, what) {
  const text = await res.text()
  try {
    return text ? JSON.parse(text) : {}
  } catch {
    fail(`${what}: HTTP ${res.status}, body is not JSON`)
  }
}

// send makes a fresh panva `dpop` proof for method and BASE_URL+path (with
// ath when accessToken is given) and sends it; on use_dpop_nonce it takes
// the server's nonce and retries once. It returns the answer, its parsed
// body and the proof it sent last.
async function send(keyPair, method, path, { json, accessToken } = {}) {
  for (let attempt = 0; ; attempt++) {
    const proof = await DPoP.generateProof(keyPair, issuer + path, method, nonce, accessToken)
    const headers = { DPoP: proof }
    if (json !== undefined) headers['Content-Type'] = 'application/json'
    if (accessToken !== undefined) headers.Authorization = `DPoP ${accessToken}`
    const res = await fetch(issuer + path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      redirect: 'manual',
    })
    const body = await readJSON(res, `${method} ${path}`)
    const serverNonce = res.headers.get('dpop-nonce')
    if (serverNonce) nonce = serverNonce
    const useNonce = body.error === 'use_dpop_nonce' || /error="use_dpop_nonce"/.test(res.headers.get('www-authenticate') ?? '')
    if (useNonce && serverNonce && attempt === 0) {
      out.nonce_retries++
      continue
    }
    return { res, body, proof }
  }
}

function expectStatus(what, res, body, want) {
  if (res.status !== want) {
    const error = typeof body.error === 'string' ? body.error : ''
    fail(`${what}: HTTP ${res.status} (${error}), want ${want}`)
  }
}

async function main() {
  // Non-extractable private key (the default of generateKeyPair); the
  // public key is always extractable in WebCrypto.
  const keyPair = await DPoP.generateKeyPair('ES256')
  if (keyPair.privateKey.extractable) fail('the private key is extractable')
  out.public_jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey)
  out.jkt = await DPoP.calculateThumbprint(keyPair.publicKey)

  const reg = await fetch(issuer + '/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  })
  out.register_status = reg.status
  expectStatus('POST /register', reg, await readJSON(reg, 'POST /register'), 201)

  // 1. login
  const login = await send(keyPair, 'POST', '/login', { json: { username, password } })
  out.login_status = login.res.status
  expectStatus('POST /login', login.res, login.body, 200)
  out.token_type = login.body.token_type
  out.access_token = login.body.access_token
  out.login_proof = login.proof

  // 2. resource call with ath
  const call1 = await send(keyPair, 'GET', '/protected', { accessToken: out.access_token })
  out.resource_status = call1.res.status
  expectStatus('GET /protected', call1.res, call1.body, 200)
  out.resource_sub = call1.body.sub
  out.resource_proof = call1.proof

  // Proofs by the same key for the same token that the server must refuse
  // at GET /protected: another URL, another method. Never sent here.
  out.spare = {
    other_htu_proof: await DPoP.generateProof(keyPair, issuer + '/elsewhere', 'GET', nonce, out.access_token),
    other_htm_proof: await DPoP.generateProof(keyPair, issuer + '/protected', 'POST', nonce, out.access_token),
  }

  // 3. refresh, then call again with the new token
  const refresh = await send(keyPair, 'POST', '/refresh', { json: { refresh_token: login.body.refresh_token } })
  out.refresh_status = refresh.res.status
  expectStatus('POST /refresh', refresh.res, refresh.body, 200)
  out.refresh_token_type = refresh.body.token_type
  out.refreshed_access_token = refresh.body.access_token
  out.refreshed_refresh_token = refresh.body.refresh_token
  out.refresh_proof = refresh.proof
  // A fresh /refresh proof, never sent: the Go side shows with it that a
  // replayed refresh proof spent nothing.
  out.spare.refresh_proof = await DPoP.generateProof(keyPair, issuer + '/refresh', 'POST', nonce)

  const call2 = await send(keyPair, 'GET', '/protected', { accessToken: out.refreshed_access_token })
  out.resource2_status = call2.res.status
  expectStatus('GET /protected (refreshed token)', call2.res, call2.body, 200)

  // 4. oauth4webapi: its own proofs (its DPoP handle, same key pair) and its
  // own nonce cache; a use_dpop_nonce challenge is retried once.
  const client = { client_id: 'jwtauth-interop' }
  const handle = oauth.DPoP(client, keyPair)
  let o4wProof
  const options = {
    DPoP: handle,
    [oauth.allowInsecureRequests]: issuer.startsWith('http:'),
    [oauth.customFetch]: (url, init) => {
      o4wProof = init.headers.dpop
      return fetch(url, init)
    },
  }
  const url = new URL(issuer + '/protected')
  let res
  out.o4w_nonce_retries = 0
  try {
    res = await oauth.protectedResourceRequest(out.refreshed_access_token, 'GET', url, new Headers(), null, options)
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out.o4w_nonce_retries++
    res = await oauth.protectedResourceRequest(out.refreshed_access_token, 'GET', url, new Headers(), null, options)
  }
  out.o4w_status = res.status
  const o4wBody = await readJSON(res, 'oauth4webapi GET /protected')
  expectStatus('oauth4webapi GET /protected', res, o4wBody, 200)
  out.o4w_proof = o4wProof
  out.o4w_jkt = await handle.calculateThumbprint()
  out.nonce_seen = nonce !== undefined

  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err) => {
  // err.message only: oauth4webapi errors may hold the response, never print it.
  console.error(`client.mjs: ${err?.name ?? 'Error'}: ${err?.message ?? err}`)
  process.exit(1)
})
