#!/usr/bin/env bash
# Installs everything pathwatch needs to build and test, from Debian 12 packages only.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  libcurl4-openssl-dev libc-ares-dev libuv1-dev nlohmann-json3-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev
  # fuzz targets (scripts/fuzz-smoke.sh): clang, and libFuzzer with clang's sanitizer
  # runtimes (only recommended by clang, so named here). gcc's ASan/UBSan runtimes for
  # scripts/test-sanitizers.sh come with build-essential.
  clang libclang-rt-14-dev
  # tests: the lab's real servers and tools
  python3 openssl curl iproute2 nftables util-linux procps
  nginx-light dnsmasq-base squid-openssl microsocks
  # the system's root bundle: the default tls.ca_file, and what the CA store test trusts
  ca-certificates
  # the lab runs pathwatch under a shifted clock (host/clock_* scenarios)
  faketime
  # systemd-analyze verify for the unit
  systemd
  # the .deb: cpack's dpkg-shlibdeps and file, lintian, adduser for the postinst's
  # no-systemd path; promtool for the Prometheus rules' tests
  dpkg-dev file lintian adduser prometheus
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
# Servers are started by the tests themselves; keep the packages' own services off.
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
