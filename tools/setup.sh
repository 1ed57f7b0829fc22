#!/usr/bin/env bash
# Set up what `make run` / `make test` need on a fresh Debian machine:
# Debian packages (apt-get, or sudo apt-get when not root), the project venv
# (.venv) and the pinned PyPI packages. Safe to run again: it only installs
# what is missing or changed.
#   tools/setup.sh run    the station on a PC (sim board)
#   tools/setup.sh test   everything the tests and benchmarks need
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
venv=.venv
python=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*" >&2; }

sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
apt_updated=""

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    say "please install these packages: ${missing[*]} (no apt-get here)"; exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  if [ -z "$apt_updated" ]; then $sudo_cmd apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

packages_from() {  # Debian package names from a list file (comments allowed)
  sed -e 's/#.*//' "$1" | tr -s ' \t' '\n' | sed '/^$/d'
}

# 1. Python 3.9+ with venv and pip.
if ! command -v "$python" >/dev/null; then apt_install python3; fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
  say "sipdoor needs Python 3.9 or newer; $python is $("$python" --version 2>&1)"; exit 1
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv python3-pip; fi

# 2. Debian packages the tests need (real peers, tools).
if [ "$mode" = test ]; then
  mapfile -t debs < <(packages_from tools/debian-test-packages.txt)
  if [ ${#debs[@]} -gt 0 ]; then apt_install "${debs[@]}"; fi
fi

# 3. The venv and the pinned PyPI packages, redone when a list changes.
reqs=(tools/requirements-run.txt)
[ "$mode" = test ] && reqs+=(tests/requirements.txt)
stamp="$venv/.installed-$mode"
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  say "creating the virtual environment in $venv"
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages: ${reqs[*]}"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $(printf -- '-r %s ' "${reqs[@]}")
  echo "$want" > "$stamp"
fi
