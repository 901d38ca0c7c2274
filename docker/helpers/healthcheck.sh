#!/bin/sh
# Docker HEALTHCHECK for IOPaint (/usr/local/bin/iopaint-healthcheck in the image).
# Usage: iopaint-healthcheck PATH — GET http://127.0.0.1:<port>PATH, healthy on a 2xx answer.
# The port is the one the entrypoint recorded (flags may have moved it), else $PORT, else 8080.
port=$(cat "${TMPDIR:-/tmp}/iopaint-port" 2>/dev/null || echo "${PORT:-8080}")
exec python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)' \
  "http://127.0.0.1:${port}${1:-/}"
