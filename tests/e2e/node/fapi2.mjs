// A FAPI 2.0 style client: oauth4webapi's low-level API (PAR + PKCE S256 + private_key_jwt + DPoP,
// ID token in the client's registered algorithm), then openid-client v6 with the same DPoP key.
// One process runs the whole flow so the DPoP private key never leaves Node:
//   node fapi2.mjs '<json arguments>'
// prints {"authorization_url": ...} as one line, reads the callback URL the browser reached as one
// line on stdin, then prints one JSON object with the results; exit 2 when a library refused.
import { createInterface } from 'node:readline'
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'

const args = JSON.parse(process.argv[2] ?? '{}')
// Our test issuer is plain http://127.0.0.1; every other check of the libraries stays on.
const insecure = { [oauth.allowInsecureRequests]: true }

function say(object) {
  process.stdout.write(JSON.stringify(object) + '\n')
}

async function nextLine() {
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    lines.close()
    return line.trim()
  }
  throw new Error('stdin closed before the callback URL arrived')
}

// RFC 9449 §8 (authorization server) and §9 (resource server): a server may answer
// use_dpop_nonce; the handle has kept the DPoP-Nonce it sent, so retry once. The steps that needed
// a retry are reported, so the test can tell which servers demanded a nonce.
const nonceRetries = []
async function withNonceRetry(step, request) {
  try {
    return await request()
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    nonceRetries.push(step)
    return request()
  }
}

async function importClientKey(jwk) {
  // WebCrypto wants the algorithm of the key's use: RSASSA-PSS for PS256, ECDSA P-256 for ES256.
  const algorithm = jwk.alg === 'ES256'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSA-PSS', hash: 'SHA-256' }
  const key = await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign'])
  return { key, kid: jwk.kid }
}

async function oauth4webapiFlow(clientKey, dpopKeys) {
  const issuer = new URL(args.issuer)
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  )
  const rp = {
    client_id: args.client_id,
    id_token_signed_response_alg: args.id_token_alg,
  }
  const clientAuth = oauth.PrivateKeyJwt(clientKey)
  const DPoP = oauth.DPoP(rp, dpopKeys)
  const verifier = oauth.generateRandomCodeVerifier()
  const nonce = oauth.generateRandomNonce()
  const state = oauth.generateRandomState()
  const parameters = {
    redirect_uri: args.redirect_uri,
    scope: args.scope,
    response_type: 'code',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  }
  // FAPI 2.0 Security Profile §5.3.2.2: the authorization request is pushed, never in the URL.
  const pushed = await withNonceRetry('par', async () => oauth.processPushedAuthorizationResponse(
    as, rp,
    await oauth.pushedAuthorizationRequest(as, rp, clientAuth, parameters, { DPoP, ...insecure }),
  ))
  // RFC 9126 §4: the browser carries only client_id and request_uri.
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('client_id', args.client_id)
  url.searchParams.set('request_uri', pushed.request_uri)
  say({ authorization_url: url.href, request_uri: pushed.request_uri })

  const callback = new URL(await nextLine())
  const params = oauth.validateAuthResponse(as, rp, callback, state)
  let tokenResponse
  const tokens = await withNonceRetry('token', async () => {
    tokenResponse = await oauth.authorizationCodeGrantRequest(
      as, rp, clientAuth, params, args.redirect_uri, verifier, { DPoP, ...insecure },
    )
    return oauth.processAuthorizationCodeResponse(
      as, rp, tokenResponse, { expectedNonce: nonce, requireIdToken: true },
    )
  })
  // The claims and the header's alg were checked above; the signature is checked here, against the
  // key in the issuer's jwks_uri that the header's kid names (OpenID Connect Core §3.1.3.7).
  await oauth.validateApplicationLevelSignature(as, tokenResponse, insecure)
  const idTokenAlg = JSON.parse(
    Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString(),
  ).alg

  const notesUrl = new URL(args.notes_url)
  const notes = await withNonceRetry('resource', () => oauth.protectedResourceRequest(
    tokens.access_token, 'GET', notesUrl, new Headers({ accept: 'application/json' }), null,
    { DPoP, ...insecure },
  ))

  const refreshed = await withNonceRetry('refresh', async () => oauth.processRefreshTokenResponse(
    as, rp,
    await oauth.refreshTokenGrantRequest(as, rp, clientAuth, tokens.refresh_token, {
      DPoP, ...insecure,
    }),
  ))
  return {
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    id_token_alg: idTokenAlg,
    id_token_claims: oauth.getValidatedIdTokenClaims(tokens),
    notes_status: notes.status,
    notes_body: await notes.json(),
    refreshed_token_type: refreshed.token_type,
    refreshed_access_token: refreshed.access_token,
    refresh_token: refreshed.refresh_token,
    rotated: refreshed.refresh_token !== tokens.refresh_token,
    nonce_retries: nonceRetries,
  }
}

// openid-client v6 on its own discovery, with the same DPoP key: it refreshes oauth4webapi's
// grant and calls the API, then runs a code flow of its own (PAR, PKCE S256, DPoP) through the
// browser. Its non-repudiation checks verify ID token signatures against the jwks_uri.
async function openidClientFlow(clientKey, dpopKeys, refreshToken) {
  const config = await client.discovery(
    new URL(args.issuer),
    args.client_id,
    { id_token_signed_response_alg: args.id_token_alg },
    client.PrivateKeyJwt(clientKey),
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  )
  const DPoP = client.getDPoPHandle(config, dpopKeys)
  const tokens = await client.refreshTokenGrant(config, refreshToken, undefined, { DPoP })
  const notes = await client.fetchProtectedResource(
    config, tokens.access_token, new URL(args.notes_url), 'GET', undefined, undefined, { DPoP },
  )

  const verifier = client.randomPKCECodeVerifier()
  const checks = {
    pkceCodeVerifier: verifier,
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
    idTokenExpected: true,
  }
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: args.redirect_uri,
    scope: args.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
  }, { DPoP })
  say({ authorization_url: url.href })
  const callback = new URL(await nextLine())
  const code = await client.authorizationCodeGrant(config, callback, checks, undefined, { DPoP })
  return {
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    notes_status: notes.status,
    notes_body: await notes.json(),
    code_token_type: code.token_type,
    code_access_token: code.access_token,
    code_id_token_claims: code.claims(),
  }
}

try {
  const clientKey = await importClientKey(args.client_jwk)
  // RFC 9449 §4.2: ES256 is the algorithm every DPoP server supports.
  const dpopKeys = await oauth.generateKeyPair('ES256', { extractable: true })
  const dpopPublicJwk = await crypto.subtle.exportKey('jwk', dpopKeys.publicKey)
  const first = await oauth4webapiFlow(clientKey, dpopKeys)
  const second = await openidClientFlow(clientKey, dpopKeys, first.refresh_token)
  say({ ok: true, dpop_public_jwk: dpopPublicJwk, oauth4webapi: first, openid_client: second })
} catch (error) {
  say({
    ok: false,
    name: error?.name,
    code: error?.code,
    error: error?.error,
    message: String(error?.message ?? error),
    cause: error?.cause === undefined ? undefined : String(error.cause?.message ?? error.cause),
  })
  process.exit(2)
}
