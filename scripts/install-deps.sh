#!/usr/bin/env bash
# Installs, from Debian's packages, whatever Gridflow needs to build, test and run the demo.
# Idempotent: packages already present are left alone and apt is not touched at all then.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libpqxx-dev libspdlog-dev nlohmann-json3-dev prometheus-cpp-dev libcli11-dev
  libgtest-dev libgmock-dev libhowardhinnant-date-dev
  postgresql postgresql-contrib
  python3 python3-grpcio python3-protobuf tzdata procps iproute2
  prometheus  # for promtool: the alert rules' unit tests (the server is not started)
)

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
