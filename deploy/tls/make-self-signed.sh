#!/bin/sh
# A self-signed certificate for the demo stack's nginx (compose.yaml mounts this folder at
# /etc/nginx/tls). Replace fieldline.crt / fieldline.key with your own for anything real.
#
#   deploy/tls/make-self-signed.sh [hostname]      (default: localhost)
#
# Leaves an existing pair alone, so running it again never rotates a certificate by surprise.
set -eu
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
host=${1:-localhost}
if [ -s "$dir/fieldline.crt" ] && [ -s "$dir/fieldline.key" ]; then
    echo "tls: $dir/fieldline.crt exists; leaving it"
    exit 0
fi
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
    -keyout "$dir/fieldline.key" -out "$dir/fieldline.crt" \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host,IP:127.0.0.1" 2>/dev/null
chmod 0644 "$dir/fieldline.crt"
echo "tls: wrote $dir/fieldline.crt (self-signed for $host)"
