#!/usr/bin/env bash
# Install what mongonorm needs to build, test and run on Debian bookworm.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format clang
  libmongoc-dev libbson-dev libpq-dev libyaml-dev zlib1g-dev libssl-dev libcmocka-dev libglib2.0-dev
  postgresql-15 postgresql-client-15
  python3 python3-mockupdb python3-mongomock python3-pymongo
  groff-base man-db
)

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
