#!/usr/bin/env bash
# Installs, from Debian's packages, whatever Gridflow needs to build, test and run the demo.
# Idempotent: packages already present are left alone and apt is not touched at all then.
set -euo pipefail

# What compiling the binaries needs (also the container images' build stage: deploy/docker).
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libpqxx-dev libspdlog-dev nlohmann-json3-dev prometheus-cpp-dev libcli11-dev
  libcpp-httplib-dev  # gridflow-console's HTTP server
  tzdata
)
# What the tests, the demo and the chart check need besides.
TEST_PACKAGES=(
  libgtest-dev libgmock-dev
  postgresql postgresql-contrib
  python3 python3-grpcio python3-protobuf python3-yaml procps iproute2 openssl
  python3-venv python3-setuptools python3-wheel python3-pip  # sdk/python, pip-installed in a test
  prometheus  # for promtool: the alert rules' unit tests (the server is not started)
  chromium fonts-dejavu-core  # the console's browser tests (tests/console), headless
  clang-14 libclang-rt-14-dev  # libFuzzer and the sanitizers: fuzz/ (scripts/fuzz.sh)
  # tools/helm-render (Go, GOPATH mode, Debian's libraries): renders the Helm chart offline
  golang-go golang-github-masterminds-sprig-dev golang-github-xeipuuv-gojsonschema-dev
  golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev
)

# Usage: install-deps.sh [build|all]   (default: all)
case "${1:-all}" in
  build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  all) PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *)
    echo "usage: install-deps.sh [build|all]" >&2
    exit 2
    ;;
esac
# tools/chart-check validates manifests with npm packages: Node.js from Debian unless one is there
# already (an existing install may come with its own npm, which Debian's npm would conflict with).
if [[ ${1:-all} == all ]] && ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
