#!/usr/bin/env bash
# The authorization-code flow with PKCE, by hand, with curl: what a browser and a client app do.
# Run `make run` in another terminal first. Uses the demo user and client that `make run` seeds.
set -euo pipefail
AUTH=http://127.0.0.1:8000
API=http://127.0.0.1:8001
CREDS=var/demo-credentials.json
CLIENT_ID=$(python3 -c "import json;print(json.load(open('$CREDS'))['client_id'])")
CLIENT_SECRET=$(python3 -c "import json;print(json.load(open('$CREDS'))['client_secret'])")
REDIRECT_URI=http://127.0.0.1:8002/auth/callback
# RFC 7636 Appendix B's example pair; a real client makes a fresh verifier for every request.
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT
csrf() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n1; }
location() { sed -n 's/^location: //Ip' | tr -d '\r'; }

echo "1. The app sends the browser to /oauth/authorize"
login_path=$(curl -s -D - -o /dev/null -c "$JAR" -b "$JAR" "$AUTH/oauth/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_URI&scope=openid%20profile%20email&state=demo-state&code_challenge=$CHALLENGE&code_challenge_method=S256" | location)
request_id=${login_path#*request_id=}
echo "   -> $login_path"

echo "2. The user signs in as demo"
token=$(curl -s -c "$JAR" -b "$JAR" "$AUTH$login_path" | csrf)
consent_path=$(curl -s -D - -o /dev/null -c "$JAR" -b "$JAR" "$AUTH/login" \
  --data-urlencode "username=demo" --data-urlencode "password=demo-password-1" \
  --data-urlencode "csrf_token=$token" --data-urlencode "request_id=$request_id" | location)
echo "   -> $consent_path"

echo "3. The user allows CoolNotesApp on the consent screen"
token=$(curl -s -c "$JAR" -b "$JAR" "$AUTH$consent_path" | csrf)
callback=$(curl -s -D - -o /dev/null -c "$JAR" -b "$JAR" "$AUTH/consent" \
  --data-urlencode "allow=allow" --data-urlencode "csrf_token=$token" \
  --data-urlencode "request_id=$request_id" | location)
echo "   -> $callback"
code=$(python3 -c "import sys,urllib.parse as u;print(u.parse_qs(u.urlsplit(sys.argv[1]).query)['code'][0])" "$callback")

echo "4. The app exchanges the code (with its secret and the PKCE verifier)"
tokens=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" "$AUTH/oauth/token" \
  -d grant_type=authorization_code -d "code=$code" -d "redirect_uri=$REDIRECT_URI" -d "code_verifier=$VERIFIER")
echo "   $tokens" | cut -c1-160
access_token=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['access_token'])" "$tokens")

echo "5. The app calls the resource API"
curl -s -H "Authorization: Bearer $access_token" "$API/api/v1/me"; echo
