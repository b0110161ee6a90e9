#!/usr/bin/env bash
# The fast suites (unit + DAG integrity) with the machine's clock moved by libfaketime (Debian `faketime`):
# no code path and no test may depend on today's date unless it is injected. Each moment below starts a
# clock that keeps running in the test process; time zones of the machine vary too.
#   a far future date; both Europe/Zurich DST-change nights (the clock jumps during the run); a leap day
#   turning into March; a year's last second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
command -v faketime >/dev/null || { echo "faketime is missing: run make install" >&2; exit 1; }
moments=(
  "UTC|2041-06-15 12:00:00"
  "Europe/Zurich|2027-03-28 00:59:55"
  "Europe/Zurich|2027-10-31 00:59:55"
  "UTC|2028-02-29 23:59:55"
  "America/St_Johns|2030-12-31 23:59:58"
)
for moment in "${moments[@]}"; do
  tz=${moment%%|*}
  at=${moment#*|}
  echo "clock moved to ${at} UTC (TZ=${tz}): unit + DAG integrity tests"
  TZ=UTC faketime -m "${at}" env TZ="${tz}" "$PY" -m pytest -q -p no:cacheprovider tests/unit tests/dags \
    | tail -n 1
done
