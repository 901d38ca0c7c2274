#!/bin/sh
# apt-install-missing PACKAGE...: installs the packages the base image lacks, and nothing (no
# network) when it has them all. Used by docker/Dockerfile's system and python stages.
#
# DEBIAN_MIRROR, UBUNTU_MIRROR (build args): a mirror for the base's distribution. apt then reads
# a sources list of that mirror alone, given by option to these two commands, so the image keeps
# the base image's own sources. /run/secrets/iopaint-ca (the build's extra CA certificates, if
# any): apt's https trusts the system's bundle plus them. apt's lists, caches and logs are removed
# before the step ends: they would grow the layer, and the logs and ldconfig's cache differ from
# run to run (docs/reproducible.md).
set -eu

missing=""
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing="$missing $package"
done
[ -n "$missing" ] || exit 0

work=/tmp/apt-install-missing
# shellcheck source=/dev/null # the base image's own, read at build time
. /etc/os-release
case "$ID" in
  debian) mirror=${DEBIAN_MIRROR:-} suites="$VERSION_CODENAME $VERSION_CODENAME-updates" components="main" ;;
  ubuntu) mirror=${UBUNTU_MIRROR:-} suites="$VERSION_CODENAME $VERSION_CODENAME-updates $VERSION_CODENAME-security" components="main universe" ;;
  *) mirror= ;;
esac
set --
if [ -n "$mirror" ]; then
  mkdir -p "$work/parts"
  for suite in $suites; do echo "deb $mirror $suite $components"; done >"$work/sources.list"
  set -- -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
fi
if [ -f /run/secrets/iopaint-ca ]; then
  mkdir -p "$work"
  { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; cat /run/secrets/iopaint-ca; } >"$work/ca.pem"
  set -- "$@" -o "Acquire::https::CAInfo=$work/ca.pem"
fi

apt-get "$@" update
# shellcheck disable=SC2086 # $missing is a list of package names
DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y --no-install-recommends $missing
apt-get clean
rm -rf "$work" /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/ldconfig/aux-cache
