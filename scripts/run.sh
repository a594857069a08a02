#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing (Debian packages, a virtual environment
# with the package and its extras), then runs the requested job.
#   bash scripts/run.sh study   # the main job: a study on the embedded photos with the embedded classifier
#   bash scripts/run.sh test    # the test suite
#   bash scripts/run.sh bench   # the benchmark suites (pytest-benchmark)
#   bash scripts/run.sh lint    # ruff and mypy on python/codeclens (configured in pyproject.toml)
#   bash scripts/run.sh fuzz    # the libFuzzer targets of the C++ core, CODECLENS_FUZZ_SECONDS (60) per target
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${CODECLENS_VENV:-$ROOT/.venv}
PYTHON_BIN=${PYTHON:-python3}

# clang and its libFuzzer runtime build the fuzz targets (tests/fuzz); dpkg-dev unpacks libjpeg-turbo's source.
APT_PACKAGES=(g++ cmake ninja-build pkg-config libjpeg62-turbo-dev libturbojpeg0 libopenjp2-7 libopenjp2-tools
              clang-14 libclang-rt-14-dev dpkg-dev)
# Where the fuzz build finds libjpeg-turbo's source (tests/test_fuzz_core.py reads the same default).
FUZZ_SRC=${CODECLENS_FUZZ_SRC:-$ROOT/build/fuzz-src}

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

# Debian's source of the libjpeg-turbo that the core links (same version), unpacked with its Debian patches under
# $FUZZ_SRC: the fuzz build compiles it with the fuzzer's coverage and AddressSanitizer, so that coverage feedback
# and memory checks reach the parser of the untrusted bytes. apt-get reads a private list of deb-src twins of this
# machine's own apt entries (nothing under /etc/apt changes). When it cannot be fetched the fuzz build links the
# system libjpeg (uninstrumented) and says so.
ensure_libjpeg_source() {
  [ -f "$FUZZ_SRC/libjpeg-turbo-src/jdhuff.c" ] && return 0
  if ! command -v apt-get >/dev/null || ! command -v dpkg-source >/dev/null; then
    echo "run.sh: no apt-get/dpkg-source: the fuzz targets will link the system libjpeg (not instrumented)" >&2
    return 0
  fi
  local work f version
  work=$(mktemp -d)
  mkdir -p "$work/parts" "$work/lists/partial" "$work/cache"
  for f in /etc/apt/sources.list.d/*.sources; do
    if [ -f "$f" ]; then sed 's/^Types:.*/Types: deb-src/' "$f" > "$work/parts/$(basename "$f")"; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    if [ -f "$f" ]; then sed -n 's/^deb \(.*\)/deb-src \1/p' "$f" > "$work/parts/$(basename "$f" .list).list"; fi
  done
  local apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/parts"
             -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o APT::Sandbox::User=root)
  version=$(dpkg-query -W -f='${source:Version}' libjpeg62-turbo 2>/dev/null || true)
  echo "run.sh: fetching the Debian source of libjpeg-turbo ${version} for the fuzz build"
  "${apt[@]}" update >/dev/null 2>&1 || true
  if (cd "$work" && { "${apt[@]}" source --download-only "libjpeg-turbo${version:+=$version}" ||
                      "${apt[@]}" source --download-only libjpeg-turbo; }) >/dev/null 2>&1; then
    mkdir -p "$FUZZ_SRC"
    dpkg-source -q -x "$work"/libjpeg-turbo_*.dsc "$FUZZ_SRC/libjpeg-turbo-src" >/dev/null 2>&1 ||
      echo "run.sh: could not unpack libjpeg-turbo's source: the fuzz targets will link the system libjpeg" >&2
  else
    echo "run.sh: could not fetch libjpeg-turbo's source: the fuzz targets will link the system libjpeg" >&2
  fi
  rm -rf "$work"
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
    ensure_apt; ensure_venv; ensure_libjpeg_source
    exec "$VENV/bin/python" -m pytest "$@" ;;
  bench)
    ensure_apt; ensure_venv
    exec "$VENV/bin/python" -m pytest benchmarks --benchmark-only "$@" ;;
  fuzz)
    ensure_apt; ensure_venv; ensure_libjpeg_source
    CODECLENS_FUZZ_SECONDS=${CODECLENS_FUZZ_SECONDS:-60} exec "$VENV/bin/python" -m pytest -s tests/test_fuzz_core.py "$@" ;;
  lint)
    ensure_apt; ensure_venv
    "$VENV/bin/python" -m ruff check python/codeclens
    exec "$VENV/bin/python" -m mypy "$@" ;;
  install)
    ensure_apt; ensure_venv ;;
  *)
    echo "usage: bash scripts/run.sh study|test|fuzz|bench|lint|install [args...]" >&2; exit 2 ;;
esac
