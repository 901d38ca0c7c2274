#!/bin/sh
# with-pip-ca COMMAND [ARG...]: runs the command with pip (PIP_CERT) and uv (SSL_CERT_FILE)
# trusting the build's extra CA certificates (the secret iopaint-ca, if the build has one) beside
# pip's own bundle (certifi's). The combined bundle lives for this command only, so no layer holds it.
set -eu

if [ -f /run/secrets/iopaint-ca ]; then
  PIP_CERT=$(mktemp)
  SSL_CERT_FILE=$PIP_CERT
  export PIP_CERT SSL_CERT_FILE
  trap 'rm -f "$PIP_CERT"' EXIT
  cat "$(python -c 'import pip._vendor.certifi as c; print(c.where())')" /run/secrets/iopaint-ca >"$PIP_CERT"
fi
"$@"
