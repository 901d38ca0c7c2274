#!/bin/sh
# For old habits and old CI jobs: build_docker.sh cpu|gpu|all [version]
# It replaces IOPaint's build_docker.sh and calls the runner: npm run bake -- TARGET [--version V].
# Extra runner options can follow the version, e.g. build_docker.sh cpu 1.6.0 --push.
set -eu
if [ "$#" -lt 1 ]; then
  echo "usage: scripts/build_docker.sh cpu|gpu|all [version] [npm run bake options]" >&2
  exit 2
fi
target=$1
shift
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  version=$1
  shift
  exec npm run -s bake -- "$target" --version "$version" "$@"
fi
exec npm run -s bake -- "$target" "$@"
