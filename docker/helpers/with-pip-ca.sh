#!/bin/sh
# with-pip-ca COMMAND [ARG...]: runs the command with pip trusting the build's extra CA
# certificates (the secret iopaint-ca, if the build has one) beside its own bundle (certifi's).
# The combined bundle lives for this command only, so no layer holds it.
set -eu

if [ -f /run/secrets/iopaint-ca ]; then
  PIP_CERT=$(mktemp)
  export PIP_CERT
  trap 'rm -f "$PIP_CERT"' EXIT
  cat "$(python -c 'import pip._vendor.certifi as c; print(c.where())')" /run/secrets/iopaint-ca >"$PIP_CERT"
fi
"$@"
