#!/bin/sh
# install [--prefix DIR | --target DIR] REQUIREMENTS: docker/Dockerfile's install steps. Installs
# exactly the releases the file names (the resolve stage or a lock chose them: no dependency is
# resolved here), from both indexes, hash-checked when the file has hashes. With uv when the
# python stage installed it (python.installer = "uv"), else with pip.
#
# Environment (the stage's build args): PIP_INDEX_URL, TORCH_INDEX_URL.
set -eu

uv=/opt/uv/bin/uv
option=
dir=
case "${1:-}" in
--prefix | --target)
  option=$1
  dir=$2
  shift 2
  ;;
esac
if [ $# -ne 1 ]; then
  echo "usage: install.sh [--prefix DIR | --target DIR] REQUIREMENTS" >&2
  exit 2
fi
requirements=$1

if [ -x "$uv" ]; then
  # uv takes a package from the first index that has it (the torch index carries some of PyPI's);
  # pip, whose choices the resolve and the locks record, takes the best release across both.
  # Copies from the cache, which is a mount (another filesystem, so no links); compiles bytecode as pip does.
  set -- "$uv" pip install --python "$(command -v python)" --index-strategy unsafe-best-match --link-mode copy --compile-bytecode
else
  set -- pip install
  # pip leaves out of a prefix what the virtualenv has already (the packages stage starts from the torch stack).
  if [ "$option" = --prefix ]; then set -- "$@" --ignore-installed; fi
fi
if [ -n "$option" ]; then set -- "$@" "$option" "$dir"; fi
"$@" --index-url "$PIP_INDEX_URL" --extra-index-url "$TORCH_INDEX_URL" --no-deps -r "$requirements"
# uv leaves its lock file where it installed.
if [ -n "$dir" ]; then rm -f "$dir/.lock"; fi
