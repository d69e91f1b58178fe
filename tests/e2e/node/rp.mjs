// An independent relying party for the end-to-end tests: openid-client v6 (and oauth4webapi,
// the library under it) talking to our provider with nothing but discovery.
// Usage: node rp.mjs <command> '<json arguments>'; prints one JSON object; exit 0 on success,
// exit 2 when the library refused something (the JSON says what).
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'

const [command, raw] = process.argv.slice(2)
const args = JSON.parse(raw ?? '{}')

async function configuration() {
  const metadata = { client_secret: args.client_secret }
  // Shifts the time the library assumes, as if its clock were off by this many seconds.
  if (args.clock_skew) metadata[client.clockSkew] = args.clock_skew
  return client.discovery(
    new URL(args.issuer),
    args.client_id,
    metadata,
    client.ClientSecretBasic(args.client_secret),
    { execute: [client.allowInsecureRequests] },
  )
}

async function start() {
  const config = await configuration()
  const verifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: args.redirect_uri,
    scope: args.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  })
  return { url: url.href, verifier, nonce, state }
}

async function finish() {
  const config = await configuration()
  const tokens = await client.authorizationCodeGrant(config, new URL(args.callback_url), {
    pkceCodeVerifier: args.verifier,
    expectedNonce: args.nonce,
    expectedState: args.state,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  await client.tokenRevocation(config, refreshed.refresh_token)
  let revokedRefused = false
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token)
  } catch (error) {
    revokedRefused = error.error === 'invalid_grant'
  }
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: args.post_logout_redirect_uri,
    state: 'bye',
  })
  return {
    id_token_claims: claims,
    userinfo,
    refreshed_scope: refreshed.scope,
    refreshed_has_new_refresh_token: refreshed.refresh_token !== tokens.refresh_token,
    revoked_refresh_token_refused: revokedRefused,
    end_session_url: endSession.href,
  }
}

// Feed a crafted token response through the library's own validation (negative tests).
async function processTokenResponse() {
  const issuer = new URL(args.issuer)
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }),
  )
  const rp = { client_id: args.client_id }
  const response = new Response(JSON.stringify(args.body), {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  })
  const result = await oauth.processAuthorizationCodeResponse(as, rp, response, {
    expectedNonce: args.nonce,
    requireIdToken: true,
  })
  // Over TLS the library trusts the token endpoint; signatures are checked on request.
  await oauth.validateApplicationLevelSignature(as, response, { [oauth.allowInsecureRequests]: true })
  return { accepted: true, claims: oauth.getValidatedIdTokenClaims(result) }
}

// The JWT claim a validation error is about, wherever oauth4webapi put it in the cause chain.
function claimOf(error) {
  for (let e = error; e && typeof e === 'object'; e = e.cause) {
    if (typeof e.claim === 'string') return e.claim
  }
  return undefined
}

const commands = { start, finish, 'process-token-response': processTokenResponse }
try {
  const result = await commands[command]()
  process.stdout.write(JSON.stringify({ ok: true, ...result }))
} catch (error) {
  process.stdout.write(JSON.stringify({
    ok: false,
    name: error?.name,
    code: error?.code,
    error: error?.error,
    message: String(error?.message ?? error),
    claim: claimOf(error),
  }))
  process.exit(2)
}
