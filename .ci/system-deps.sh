#!/usr/bin/env bash
# Install the Debian tools a make target needs, when missing and when we can (root with apt).
#
#   .ci/system-deps.sh lab     what `make lab` needs: debootstrap, to build the docker
#                              backend's base image where no registry answers (only when
#                              a Docker engine is there to use it)
#   .ci/system-deps.sh test    what `make test` needs: the same (the docker tests build it),
#                              and chromium with its WebDriver for the console's browser
#                              tests (tests/lab/console)
#   .ci/system-deps.sh bench   what `make bench` needs: socat, iperf3 and wrk as peers, and
#                              debootstrap for bench_docker
#   .ci/system-deps.sh         all of the above (`make system-deps`)
#
# Without root or apt it installs nothing and says what is missing in one line; `lab up`
# then falls back to the local backend and the tests and benchmarks that need a tool say so.
set -euo pipefail

docker_engine() {
  [ -n "${DOCKER_HOST:-}" ] || [ -S /var/run/docker.sock ]
}

debootstrap_if_docker() {
  if docker_engine; then echo debootstrap; fi
}

# A tool is a command; where its Debian package has another name, write command:package.
case "${1:-all}" in
  lab) tools=($(debootstrap_if_docker)) ;;
  test) tools=($(debootstrap_if_docker) chromium chromedriver:chromium-driver) ;;
  bench) tools=(socat iperf3 wrk $(debootstrap_if_docker)) ;;
  all) tools=(socat iperf3 wrk debootstrap chromium chromedriver:chromium-driver) ;;
  *)
    echo "usage: $0 [lab|test|bench|all]" >&2
    exit 2
    ;;
esac

need=()
for entry in "${tools[@]}"; do
  tool=${entry%%:*}
  package=${entry#*:}
  # debootstrap lives in /usr/sbin, often not on a user's PATH.
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || need+=("$package")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing ${need[*]} (not root, or no apt-get): sudo apt-get install -y ${need[*]}" >&2
  exit 0
fi
echo "installing ${need[*]} from Debian's archive" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
