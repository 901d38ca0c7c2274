#!/bin/sh
# resolve: docker/Dockerfile's resolve stage. Reads the variant's lock stage in /tmp/lock and the
# checkout's requirements.txt at /tmp/requirements.txt; pins.py lies beside this script.
#
# Without a lock (/tmp/lock/packages.txt absent), pip resolves the pins, the extra packages and
# requirements.txt together (metadata only), then the torch stack alone under that result; each
# becomes exact pins in torch.txt, packages.txt and build.txt. The reports in /tmp/pip-report are
# what `npm run lock` reads.
# With a lock, nothing is resolved while requirements.txt and the extra packages are the ones it
# was made from (/tmp/lock/inputs.txt). After they change, pip resolves them with every locked
# release held, and what they need beyond the lock goes to additions.txt, hash-checked, for a layer
# of its own.
#
# Environment (the stage's build args): PIP_INDEX_URL, TORCH_INDEX_URL, EXTRA_PYTHON_PACKAGES.
set -eu

lock=/tmp/lock
reports=/tmp/pip-report
requirements=/tmp/requirements.txt
helpers=$(dirname "$0")
pins() { python "$helpers/pins.py" "$@"; }

# A dry run of pip install that records what it would install in the report $1.
resolve() {
  report=$1
  shift
  pip install --index-url "$PIP_INDEX_URL" --extra-index-url "$TORCH_INDEX_URL" \
    --dry-run --ignore-installed --report "$reports/$report.json" "$@"
}

mkdir -p "$reports"
: >"$lock/additions.txt"

if [ ! -f "$lock/packages.txt" ]; then
  resolve all -r "$lock/torch.txt" -r "$lock/extras.txt" -r "$requirements"
  pins exact "$reports/all.json" >"$lock/all.txt"
  resolve torch -r "$lock/torch.txt" -c "$lock/all.txt"
  pins exact "$reports/torch.json" >"$lock/torch.txt"
  grep -vxFf "$lock/torch.txt" "$lock/all.txt" >"$lock/packages.txt" || true
  resolve build -r "$lock/build.txt"
  pins exact "$reports/build.json" >"$lock/build.txt"
  exit 0
fi

variant=$(cat "$lock/variant")
if printf 'requirements sha256:%s\nextras %s\n' "$(sha256sum "$requirements" | cut -d' ' -f1)" "${EXTRA_PYTHON_PACKAGES:-none}" | cmp -s - "$lock/inputs.txt"; then
  exit 0
fi
echo "requirements.txt or the extra packages changed since the lock of $variant: resolving what they add, with every locked release held"
sed -e '/^--/d' -e 's/ --hash=[^ ]*//g' "$lock/torch.txt" "$lock/packages.txt" >"$lock/locked.txt"
# One requirement per line: set -f, since a requirement such as rembg[cpu] is not a file pattern.
set -f
for requirement in ${EXTRA_PYTHON_PACKAGES:-}; do echo "$requirement"; done >"$lock/extras.txt"
set +f
if ! resolve additions -c "$lock/locked.txt" -r "$lock/extras.txt" -r "$requirements"; then
  echo "error: requirements.txt needs releases other than the lock of $variant holds (pip's conflict above): run npm run lock -- $variant" >&2
  exit 1
fi
pins additions "$reports/additions.json" "$lock/locked.txt" >"$lock/additions.txt"
echo "beyond the lock, in a layer of their own until npm run lock pins them:"
sed 's/ .*//; s/^/  /' "$lock/additions.txt"
