#!/bin/sh
# split-app.sh PREFIX RECORD LAYERS [DIR...]: docker/Dockerfile's app step, after the checkout's
# package was installed with --prefix PREFIX. Moves what the runtime adds as layers of their own
# out of PREFIX, each to the same path under its own directory:
#   - every *.dist-info (the package's record) into RECORD;
#   - each DIR, a directory of the installed package as source.code_layers lists it
#     (iopaint/model), into LAYERS/DIR.
# What stays in PREFIX is the rest of the code. A DIR that is not in the package stops the build.
set -eu

if [ $# -lt 3 ]; then
  echo "usage: split-app.sh PREFIX RECORD LAYERS [DIR...]" >&2
  exit 2
fi
prefix=$1 record=$2 layers=$3
shift 3
cd "$prefix"

find . -name '*.dist-info' -type d -prune -exec sh -c 'mkdir -p "$0/${1%/*}" && mv "$1" "$0/$1"' "$record" {} \;

for dir in "$@"; do
  moved=
  # The glob finds site-packages whatever the Python version; DIR's characters are never a pattern's (the schema).
  for path in lib/python*/site-packages/"$dir"; do
    [ -d "$path" ] || continue
    mkdir -p "$layers/$dir/${path%/*}"
    mv "$path" "$layers/$dir/$path"
    moved=yes
  done
  if [ -z "$moved" ]; then
    echo "error: source.code_layers lists \"$dir\", which is not a directory of the installed package (in $prefix/lib/python*/site-packages)" >&2
    echo "hint: check the name against the checkout's package, or remove it from the config; then npm run generate" >&2
    exit 1
  fi
done
