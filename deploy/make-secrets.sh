#!/bin/sh
# Makes what compose.yaml mounts as secrets, in deploy/secrets/ (or the folder given):
#   ca.crt, ca.key           a private CA (keep ca.key offline once the certificates are made)
#   server.crt, server.key   one certificate for every service, by its compose name and 127.0.0.1
#   keys.txt                 the API keys the services accept, one "role key" per line
#   client.apikey, gateway.apikey, worker.apikey   the key each party presents
#   postgres-password        the password of the database user
# Existing files are kept, so running it again changes nothing; delete the folder to start over.
set -eu
dir=${1:-"$(dirname "$0")/secrets"}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
# The services run as uid 10001 in their containers and read these through bind mounts.
umask 022

if [ ! -f ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -keyout ca.key -out ca.crt -subj "/CN=orchestrator compose CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
if [ ! -f server.crt ]; then
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout server.key -out server.csr -subj "/CN=orchestrator" 2>/dev/null
  printf 'subjectAltName = DNS:gateway,DNS:scheduler-a,DNS:scheduler-b,DNS:worker,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out server.crt -extfile server.ext 2>/dev/null
  rm -f server.csr server.ext ca.srl
fi
for party in client gateway worker; do
  [ -f "$party.apikey" ] || openssl rand -hex 32 > "$party.apikey"
done
if [ ! -f keys.txt ]; then
  {
    echo "# role key: the keys the services accept (made by deploy/make-secrets.sh)"
    for party in client gateway worker; do echo "$party $(cat "$party.apikey")"; done
  } > keys.txt
fi
[ -f postgres-password ] || openssl rand -hex 24 > postgres-password
chmod 644 ./*
chmod 600 ca.key
echo "secrets in $(pwd)"
