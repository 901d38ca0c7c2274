#!/bin/sh
# uv-resolve MACHINE...: docker/Dockerfile's uv-resolve stage, which `npm run lock` builds when
# python.installer = "uv". Resolves what resolve.sh resolves without a lock (the pins, the extra
# packages and requirements.txt together, then the torch stack alone under that result, then the
# build tools) for each machine (x86_64, aarch64) with uv's --python-platform, on the machine
# this runs on: an arm64 lock needs no arm64 emulation. Each resolve is written as a PEP 751 lock
# (/tmp/uv-report/MACHINE/pylock.{all,torch,build}.toml) that lists only the files that machine
# can install.
#
# Environment (the stage's build args): PIP_INDEX_URL, TORCH_INDEX_URL.
set -eu

uv=/opt/uv/bin/uv
lock=/tmp/lock
requirements=/tmp/requirements.txt
reports=/tmp/uv-report

if [ ! -x "$uv" ]; then
  echo "error: the builder has no uv ($uv): this stage resolves for python.installer = \"uv\" only" >&2
  exit 1
fi
# The platform tag: the base image's glibc, which a multi-platform base has at one version on every
# platform. uv names manylinux_2_17 to manylinux_2_40.
glibc=$(python -c 'import platform; print(platform.libc_ver()[1])')
case "$glibc" in
2.*) minor=${glibc#2.} ;;
*)
  echo "error: the base image's Python reports no glibc (\"$glibc\"): uv resolves manylinux platforms only" >&2
  exit 1
  ;;
esac
if [ "$minor" -lt 17 ]; then
  echo "error: the base image's glibc $glibc is older than manylinux_2_17, the oldest platform uv resolves for" >&2
  exit 1
fi
if [ "$minor" -gt 40 ]; then minor=40; fi

# The virtualenv's interpreter gives the Python version; uv never downloads one.
export UV_PYTHON_DOWNLOADS=never
compile() {
  "$uv" pip compile --quiet --no-header --python "$(command -v python)" --python-platform "$platform" \
    --index-url "$PIP_INDEX_URL" --extra-index-url "$TORCH_INDEX_URL" --index-strategy unsafe-best-match "$@"
}

for machine in "$@"; do
  platform=$machine-manylinux_2_$minor
  out=$reports/$machine
  mkdir -p "$out"
  echo "resolving for $platform"
  # The joint resolve, as exact pins; then the same resolution as a lock, and the torch stack under it.
  compile --format requirements.txt --no-annotate -o "$out/all.txt" "$lock/torch.txt" "$lock/extras.txt" "$requirements"
  compile --format pylock.toml -o "$out/pylock.all.toml" -c "$out/all.txt" "$lock/torch.txt" "$lock/extras.txt" "$requirements"
  compile --format pylock.toml -o "$out/pylock.torch.toml" -c "$out/all.txt" "$lock/torch.txt"
  compile --format pylock.toml -o "$out/pylock.build.toml" "$lock/build.txt"
  rm "$out/all.txt"
done
