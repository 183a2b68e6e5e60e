#!/usr/bin/env bash
# Install what mongonorm needs to build, test and run on Debian bookworm.
# Idempotent: packages already present are left alone.
# usage: scripts/setup.sh [--bench]   (--bench: also what bench/load.sh and
# bench/profile.sh need: Node.js and npm for the row-by-row peer, perf and valgrind)
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format clang
  libmongoc-dev libbson-dev libpq-dev libyaml-dev zlib1g-dev libssl-dev libcmocka-dev libglib2.0-dev
  postgresql-15 postgresql-client-15 postgresql-server-dev-15
  python3 python3-yaml python3-mockupdb python3-mongomock python3-pymongo
  groff-base man-db
  chromium fonts-dejavu-core
)
if [ "${1:-}" = --bench ]; then
  packages+=(linux-perf valgrind)
  # Node.js from another source (NodeSource) brings its own npm: keep it
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
