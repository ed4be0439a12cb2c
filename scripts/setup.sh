#!/usr/bin/env bash
# Installs what Clinicast needs on a fresh Debian machine: `setup.sh run` for the portal,
# `setup.sh test` for the whole test suite. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

apt_install() {
  # Debian packages, installed only when missing (root, or sudo where there is one).
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ "$mode" = test ]; then
  # Scale-out tests use PostgreSQL and Redis: running servers where there are some, private
  # instances from these packages where not.
  command -v redis-server >/dev/null || apt_install redis-server
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi

extras="speech-model"
[ "$mode" = test ] && extras="test"
stamp="$VENV/.clinicast-$mode-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing Python packages ($extras) into $VENV …"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[$extras]"
  touch "$stamp"
fi
