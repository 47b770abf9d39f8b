# Sourced by the demo scripts: the local API's addresses and a customer token minted the way a
# frontend's auth service would (HS256 with the generated development secret).
source Deploy/local/env.sh
API="http://127.0.0.1:${ARMADA_HTTP_PORT:-8080}/api/v1"
SIM="http://127.0.0.1:${SIM_TRIPAY_PORT:-8091}"
SECRET="${ARMADA_JWT_SECRET:-$(cat "$ARMADA_LOCAL/dev-jwt-secret")}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# token SUB [ROLE]: a JWT valid for an hour.
token() {
  local header payload signature
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"sub":"%s","role":"%s","exp":%s}' "$1" "${2:-customer}" "$(( $(date +%s) + 3600 ))" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url)
  echo "$header.$payload.$signature"
}
