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
# The moments run side by side, as many at once as the machine has cores (each test process has its own
# AIRFLOW_HOME); their summaries print in order, and a failing moment prints its whole output.
parallel=${CLOCK_JOBS:-$(nproc)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for i in "${!moments[@]}"; do
  tz=${moments[$i]%%|*}
  at=${moments[$i]#*|}
  while (( $(jobs -rp | wc -l) >= parallel )); do sleep 1; done
  ( status=0
    TZ=UTC faketime -m "${at}" env TZ="${tz}" "$PY" -m pytest -q -p no:cacheprovider tests/unit tests/dags \
      >"$logs/$i.log" 2>&1 || status=$?
    echo "$status" >"$logs/$i.status" ) &
done
wait
failed=0
for i in "${!moments[@]}"; do
  status=$(cat "$logs/$i.status" 2>/dev/null || echo 1)
  echo "clock moved to ${moments[$i]#*|} UTC (TZ=${moments[$i]%%|*}): unit + DAG integrity tests: $(tail -n 1 "$logs/$i.log")"
  if (( status != 0 )); then
    cat "$logs/$i.log"
    failed=1
  fi
done
exit "$failed"
