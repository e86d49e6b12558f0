#!/usr/bin/env bash
# Install the Debian tools the tests and benchmarks use, when missing and when we can.
set -euo pipefail
need=()
for tool in socat iperf3 wrk debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# The console's browser tests (tests/lab/console): Debian's chromium and its WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium); command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing ${need[*]} (not root or no apt-get); the tests and benchmarks that need them will say so" >&2
  exit 0
fi
echo "installing ${need[*]} from Debian's archive" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
