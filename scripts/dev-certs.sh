#!/bin/sh
# Development certificates for the broker's TLS listeners (AMQP 5671, MQTT 8883):
# a CA, a server certificate signed by it, and optionally client certificates.
# For compose (the one-shot `certs` service runs it) and tests; production
# certificates come from cert-manager or your PKI (deploy/README.md).
#
#   scripts/dev-certs.sh OUT_DIR [SAN ...]          e.g. scripts/dev-certs.sh certs DNS:rabbitmq
#   CLIENT_CNS="svc.x device-1" scripts/dev-certs.sh OUT_DIR    client-<cn>.pem / client-<cn>.key too
#
# Writes OUT_DIR/ca.pem (give it to every client as TLS_CA_FILE), ca.key,
# server.pem, server.key (SANs: DNS:localhost, IP:127.0.0.1 and the ones given).
# Idempotent: an existing CA is kept (clients keep trusting it) and certificates
# valid for 30 more days are kept. KEY_OWNER=uid:gid chowns the server key
# (the broker's user; the key stays 0600). POSIX sh and openssl only.
set -eu

out=${1:?usage: dev-certs.sh OUT_DIR [SAN ...]}
shift
days=${CERT_DAYS:-825}
mkdir -p "$out"
umask 077

fresh() { [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 2592000 >/dev/null 2>&1; }

if ! fresh "$out/ca.pem" || [ ! -s "$out/ca.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/CN=sensor-streaming dev CA $(date +%Y%m%d%H%M%S)" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
  rm -f "$out/server.pem" # signed by the old CA
fi

sans='DNS:localhost,IP:127.0.0.1'
for s in "$@"; do sans="$sans,$s"; done

# issue NAME CN EXT_USAGE SANS: NAME.key + NAME.pem signed by the CA (kept while fresh, same SANs)
issue() {
  if fresh "$out/$1.pem" && [ -s "$out/$1.key" ] && [ "$(cat "$out/$1.sans" 2>/dev/null)" = "$4" ]; then
    return 0
  fi
  ext="$out/$1.ext"
  {
    echo 'basicConstraints=critical,CA:FALSE'
    echo 'keyUsage=critical,digitalSignature,keyEncipherment'
    echo "extendedKeyUsage=$3"
    if [ -n "$4" ]; then echo "subjectAltName=$4"; fi
  } >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$out/$1.key" -out "$out/$1.csr" 2>/dev/null
  openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$ext" -out "$out/$1.pem" 2>/dev/null
  printf '%s' "$4" >"$out/$1.sans"
  rm -f "$out/$1.csr" "$ext"
}

issue server "${SERVER_CN:-rabbitmq}" serverAuth "$sans"
for cn in ${CLIENT_CNS:-}; do issue "client-$cn" "$cn" clientAuth ''; done

chmod 0644 "$out"/*.pem
chmod 0600 "$out"/*.key
chmod 0755 "$out"
if [ -n "${KEY_OWNER:-}" ]; then chown "$KEY_OWNER" "$out/server.key" "$out/server.pem"; fi
echo "dev certificates in $out: ca.pem (TLS_CA_FILE), server.pem/server.key ($sans)"
