#!/usr/bin/env bash
# Installs every Debian package the repository needs, from one place (called by `make install`).
#  - build deps of mysqlclient (the MySQL provider's driver has no Linux wheel)
#  - PostgreSQL and MariaDB server binaries, for the private instances tests/demo start when none runs
#  - chromium, for the browser check of the Airflow UI
#  - faketime (libfaketime), for the fast suites run with the clock moved (scripts/test-clock.sh)
set -euo pipefail
want=(pkg-config default-libmysqlclient-dev build-essential faketime)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || want+=(mariadb-server mariadb-client)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# policy-rc.d keeps the packages from starting system-wide services: tests and demo start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages installed"
