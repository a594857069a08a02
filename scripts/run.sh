#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing (Debian packages, a virtual environment
# with the package and its extras), then runs the requested job.
#   bash scripts/run.sh study   # the main job: a study on the embedded photos with the embedded classifier
#   bash scripts/run.sh test    # the test suite
#   bash scripts/run.sh bench   # the benchmark suites (pytest-benchmark)
#   bash scripts/run.sh lint    # ruff and mypy on python/codeclens (configured in pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${CODECLENS_VENV:-$ROOT/.venv}
PYTHON_BIN=${PYTHON:-python3}

APT_PACKAGES=(g++ cmake ninja-build pkg-config libjpeg62-turbo-dev libturbojpeg0 libopenjp2-7 libopenjp2-tools)

ensure_apt() {
  command -v dpkg-query >/dev/null || { echo "run.sh: not a Debian system; install: ${APT_PACKAGES[*]}" >&2; return 0; }
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

source_hash() {
  { cat pyproject.toml CMakeLists.txt; find csrc python -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.py' -o -name '*.pyi' -o -name '*.typed' \) | sort | xargs cat; } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
  local stamp="$VENV/.codeclens-installed" want
  want=$(source_hash)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "run.sh: installing codeclens[study,test] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q ".[study,test]"
    echo "$want" > "$stamp"
  fi
}

job=${1:-}
[ $# -gt 0 ] && shift
case "$job" in
  study)
    ensure_apt; ensure_venv
    exec "$VENV/bin/python" -m codeclens.study --preset quick --store runs/quick/study.sqlite --report runs/quick/report "$@" ;;
  test)
    ensure_apt; ensure_venv
    exec "$VENV/bin/python" -m pytest "$@" ;;
  bench)
    ensure_apt; ensure_venv
    exec "$VENV/bin/python" -m pytest benchmarks --benchmark-only "$@" ;;
  lint)
    ensure_apt; ensure_venv
    "$VENV/bin/python" -m ruff check python/codeclens
    exec "$VENV/bin/python" -m mypy "$@" ;;
  install)
    ensure_apt; ensure_venv ;;
  *)
    echo "usage: bash scripts/run.sh study|test|bench|lint|install [args...]" >&2; exit 2 ;;
esac
