"""``make soak``: the whole system (``domotic_dev.stack``) for N minutes of live sensor files, then the verdict.

Measured, over the sensors_minutely runs whose minute lies inside the soak window:

* runs that succeeded, and every task try beyond the first in ANY DAG (a spurious retry is a defect: it shows
  red in the UI and one more would send a false alert);
* failed task instances and runs in any DAG;
* alerts: ``ops.alerts`` rows and the e-mails the SMTP catcher received. A deadline note the alert policy records
  without mailing (a catch-up run created after its deadline, when the stack unpauses its DAGs) is listed, not
  counted as an alert: nothing reached an operator;
* latency from a file's arrival on the share (the simulator's write) to Silver (its manifest row) and to Gold
  (the first Gold row of its minute), median and 95th percentile.

The result goes to ``var/soak/result.json`` and into docs/benchmarks.md (between the soak markers). ``--strict``
(CI) exits 1 on any retry, failure, alert or unfinished minute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from domotic_dev.services import REPO_ROOT
from domotic_dev.stack import LocalStack, Ports, StopRequested, stop_on_signals


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class GoldWatcher:
    """Polls the warehouse for the first Gold row of each minute (when the soak's Gold latency ends)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seen: dict[int, float] = {}  # datetime_key -> first seen (epoch)

    def poll(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            if conn.execute("SELECT to_regclass('gold.fact_environment_minute')").fetchone()[0] is None:
                return
            keys = conn.execute("SELECT DISTINCT datetime_key FROM gold.fact_environment_minute"
                                " WHERE datetime_key >= %s", (min(self.seen, default=0),)).fetchall()
        now = time.time()
        for (key,) in keys:
            self.seen.setdefault(key, now)


def measure(stack: LocalStack, window: tuple[datetime, datetime], gold: GoldWatcher) -> dict[str, Any]:
    first, last = window
    airflow = stack.airflow
    minutely = airflow.query(
        "SELECT run_id, state FROM dag_run WHERE dag_id = 'sensors_minutely'"
        " AND data_interval_start >= %s AND data_interval_start < %s", (first, last))
    retried = airflow.query("SELECT dag_id, task_id, run_id, try_number FROM task_instance WHERE try_number > 1")
    failed = airflow.query("SELECT dag_id, task_id, run_id FROM task_instance WHERE state IN ('failed',"
                           " 'upstream_failed') UNION ALL SELECT dag_id, '(run)', run_id FROM dag_run"
                           " WHERE state = 'failed'")
    with psycopg.connect(stack.warehouse_dsn) as conn:
        alerts = conn.execute("SELECT kind, subject, email_sent, email_error FROM ops.alerts").fetchall()
        loaded = conn.execute("SELECT source_name, extract(epoch FROM loaded_at), file_ts FROM silver.file_manifest"
                              " WHERE file_ts >= %s AND file_ts < %s AND status = 'loaded'", window).fetchall()
    recorded_only = [a for a in alerts if a[0] == "deadline_missed" and not a[2] and a[3]
                     and "created after its deadline" in a[3]]
    counted = [a for a in alerts if a not in recorded_only]
    to_silver = [float(at) - stack.arrivals[name] for name, at, _ in loaded if name in stack.arrivals]
    to_gold = []
    for name, _, file_ts in loaded:
        key = int(file_ts.astimezone(UTC).strftime("%Y%m%d%H%M"))
        if name in stack.arrivals and key in gold.seen:
            to_gold.append(gold.seen[key] - stack.arrivals[name])
    return {
        "window": [first.isoformat(), last.isoformat()],
        "minutes": int((last - first) / timedelta(minutes=1)),
        "minutely_runs": len(minutely),
        "minutely_succeeded": sum(1 for _, state in minutely if state == "success"),
        "tries_beyond_first": [list(r) for r in retried],
        "failures": [list(r) for r in failed],
        "alerts": [list(a[:2]) for a in counted],
        "alerts_recorded_not_mailed": [[a[0], a[1], a[3]] for a in recorded_only],
        "mails": len(stack.mail.messages()),
        "files_loaded": len(loaded),
        "to_silver_median_s": statistics.median(to_silver) if to_silver else None,
        "to_silver_p95_s": _percentile(to_silver, 0.95),
        "to_gold_median_s": statistics.median(to_gold) if to_gold else None,
        "to_gold_p95_s": _percentile(to_gold, 0.95),
    }


def verdict(result: dict[str, Any]) -> list[str]:
    problems = []
    if result["minutely_runs"] < result["minutes"] or result["minutely_succeeded"] < result["minutely_runs"]:
        problems.append(f"{result['minutely_succeeded']} of {result['minutes']} minutes succeeded")
    if result["tries_beyond_first"]:
        problems.append(f"{len(result['tries_beyond_first'])} task tries beyond the first")
    if result["failures"]:
        problems.append(f"{len(result['failures'])} failures")
    if result["alerts"] or result["mails"]:
        problems.append(f"{len(result['alerts'])} alerts, {result['mails']} e-mails")
    return problems


def report(result: dict[str, Any], machine: str) -> str:
    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f} s"

    problems = verdict(result)
    return "\n".join([
        f"Soak of the whole local system (`make soak --minutes {result['minutes']}`, {machine}; window "
        f"{result['window'][0]} .. {result['window'][1]}):",
        "",
        "| measure | target | measured |", "|---|---|---|",
        f"| sensors_minutely minutes succeeded on try 1 | {result['minutes']} of {result['minutes']} | "
        f"{result['minutely_succeeded']} of {result['minutely_runs']} runs |",
        f"| task tries beyond the first (any DAG) | 0 | {len(result['tries_beyond_first'])} |",
        f"| failed tasks or runs (any DAG) | 0 | {len(result['failures'])} |",
        f"| alerts (ops.alerts) / e-mails | 0 / 0 | {len(result['alerts'])} / {result['mails']} |",
        f"| arrival -> Silver, median (p95) | < 15 s | {seconds(result['to_silver_median_s'])} "
        f"({seconds(result['to_silver_p95_s'])}) |",
        f"| arrival -> Gold, median (p95) | | {seconds(result['to_gold_median_s'])} "
        f"({seconds(result['to_gold_p95_s'])}) |",
        "",
        f"Recorded but not mailed: {result['alerts_recorded_not_mailed'] or 'none'}. "
        f"Verdict: {'; '.join(problems) if problems else 'clean'}.",
    ])


def write_report(text: str, path: Path = REPO_ROOT / "docs" / "benchmarks.md") -> None:
    from domotic_dev.bench_report import write_block

    write_block("soak", text, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--strict", action="store_true", help="exit 1 on any retry, failure or alert (CI)")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    stack = LocalStack(name="soak", ports=Ports(api=0))
    with stop_on_signals():
        try:
            stack.start()
            print(stack.describe(), flush=True)
            gold = GoldWatcher(stack.warehouse_dsn)
            # The window starts at the next whole minute after everything runs, and ends N minutes later.
            first = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
            last = first + timedelta(minutes=args.minutes)
            settle = last + timedelta(seconds=stack.sensor_wait_seconds + 90)  # the last minute's run ends
            while datetime.now(UTC) < settle:
                stack.airflow.check_alive()
                gold.poll()
                time.sleep(2)
            result = measure(stack, (first, last), gold)
        except (KeyboardInterrupt, StopRequested):
            return 130
        finally:
            stack.stop()
    out = REPO_ROOT / "var" / "soak"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2, default=str))
    from domotic_dev.bench import machine_facts_text

    text = report(result, machine_facts_text())
    print(text, flush=True)
    if not args.no_report:
        write_report(text)
    return 1 if args.strict and verdict(result) else 0


if __name__ == "__main__":
    sys.exit(main())
