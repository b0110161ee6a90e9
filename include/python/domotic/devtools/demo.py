"""``make demo``: the whole pipeline on embedded defaults, through a real Airflow scheduler.

1. starts private services under ``.services/demo-*`` (Postgres for the warehouse and Airflow's metadata;
   more as the pipeline grows) on free ports;
2. generates a few days of sensor files (deterministic seed) into ``var/demo/share``;
3. starts Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor), triggers
   ``sensors_minutely`` for the last generated minute and ``airflow backfill create``s ``sensors_daily``
   over the generated days, and waits for the runs with a progress line;
4. prints what landed per apartment and day, and stops everything it started.

Each run starts from empty Bronze/Silver and a fresh metadata database, so running it twice prints the same
figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from domotic.devtools.airflow_local import LocalAirflow
from domotic.devtools.services import REPO_ROOT, Service, create_database, ensure_postgres

DEMO_START = date(2023, 10, 28)  # includes the 2023-10-29 change from summer to winter time in Zurich
SENSOR_DAGS = ("sensors_daily", "sensors_minutely")


def _say(text: str) -> None:
    print(text, flush=True)


_last_progress: list[str] = [""]


def _progress(states: dict[str, dict[str, int]], elapsed: float) -> None:
    """One status line: rewritten in place on a terminal, printed on change otherwise (CI logs)."""
    parts = []
    for dag_id in sorted(states):
        counts = states[dag_id]
        parts.append(f"{dag_id}: " + " ".join(f"{state}={n}" for state, n in sorted(counts.items())))
    line = " | ".join(parts)
    if sys.stdout.isatty():
        sys.stdout.write(f"\r  [{elapsed:5.0f}s] {line}" + " " * 10)
        sys.stdout.flush()
    elif line != _last_progress[0]:
        print(f"  [{elapsed:5.0f}s] {line}", flush=True)
    _last_progress[0] = line


def _generate(share: Path, start: date, days: int) -> int:
    from domotic.generator.sensors import parse_fault_args, write_range

    faults = parse_fault_args(["corrupt_json=0.0005,bad_datetime=0.0005,non_numeric=0.001,nulls=0.002"])
    report = write_range(share, start, start + timedelta(days=days), faults, seed=7, history_start=start)
    return report.files_written


def _pg_conn_json(pg: Service, dbname: str) -> str:
    return json.dumps({"conn_type": "postgres", "host": pg.host, "port": pg.port, "login": pg.user,
                       "password": pg.password, "schema": dbname})


def _landed(pg: Service, dbname: str) -> list[tuple]:
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname) as conn:
        return conn.execute(
            """
            SELECT apartment, (file_ts AT TIME ZONE 'UTC')::date AS day,
                   count(*) FILTER (WHERE status = 'loaded') AS files,
                   coalesce(sum(rows), 0) AS rows,
                   count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
                   count(*) FILTER (WHERE ts_fallback) AS ts_fallbacks,
                   coalesce(sum(skipped_readings), 0) AS skipped
            FROM silver.file_manifest WHERE is_current
            GROUP BY 1, 2 ORDER BY 2, 1
            """
        ).fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--start", type=date.fromisoformat, default=DEMO_START)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)

    root = REPO_ROOT / "var" / "demo"
    shutil.rmtree(root, ignore_errors=True)
    share, bronze = root / "share", root / "bronze"
    share.mkdir(parents=True)
    end_day = args.start + timedelta(days=args.days - 1)
    started = time.monotonic()

    _say("== starting a private PostgreSQL (warehouse + Airflow metadata)")
    pg = ensure_postgres(private=True, name="demo-postgres")
    airflow = None
    try:
        create_database(pg, "domotic", drop=True)
        _say(f"== generating {args.days} days of sensor files from {args.start} into {share}")
        files = _generate(share, args.start, args.days)
        _say(f"   {files} files written")

        airflow = LocalAirflow(
            home=root / "airflow",
            meta=pg,
            extra_env={
                "AIRFLOW_CONN_DOMOTIC_POSTGRES": _pg_conn_json(pg, "domotic"),
                "AIRFLOW_VAR_DOMOTIC_SMB_PATH": str(share),
                "AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT": str(bronze),
                "AIRFLOW_VAR_SENSOR_WAIT_SECONDS": "10",
                "DOMOTIC_HISTORY_START": args.start.isoformat(),
                "DOMOTIC_CATCHUP": "false",
            },
        )
        _say("== starting Airflow (api-server, scheduler, dag-processor, triggerer)")
        airflow.reset_metadata()
        airflow.start()
        airflow.wait_dags_parsed(SENSOR_DAGS)
        for dag_id in SENSOR_DAGS:
            airflow.cli("dags", "unpause", dag_id)

        last_minute = datetime(end_day.year, end_day.month, end_day.day, 23, 59, tzinfo=UTC)
        _say(f"== sensors_minutely for the minute {last_minute:%Y-%m-%d %H:%M} UTC")
        airflow.cli("dags", "trigger", "sensors_minutely", "--run-id", "demo_last_minute",
                    "--logical-date", (last_minute + timedelta(minutes=1)).isoformat())
        airflow.wait_runs(
            lambda s: any(r[0] in ("success", "failed") for r in airflow.query(
                "SELECT state FROM dag_run WHERE run_id = 'demo_last_minute'")),
            ["sensors_minutely"], args.timeout, _progress)
        _say("")
        _say(f"== airflow backfill create --dag-id sensors_daily --from-date {args.start} --to-date {end_day}")
        airflow.cli("backfill", "create", "--dag-id", "sensors_daily", "--from-date", args.start.isoformat(),
                    "--to-date", end_day.isoformat(), "--max-active-runs", "2")

        def backfill_done(states: dict[str, dict[str, int]]) -> bool:
            rows = airflow.query("SELECT state FROM dag_run WHERE dag_id = 'sensors_daily' AND run_type = 'backfill'")
            return len(rows) == args.days and all(r[0] in ("success", "failed") for r in rows)

        airflow.wait_runs(backfill_done, ["sensors_daily"], args.timeout, _progress)
        _say("")
        failed = airflow.query("SELECT dag_id, run_id FROM dag_run WHERE state = 'failed' AND dag_id = ANY(%s)",
                               (list(SENSOR_DAGS),))
        _print_landed(_landed(pg, "domotic"))
        _browser_check(airflow, SENSOR_DAGS)
        _say(f"== done in {time.monotonic() - started:.0f}s; Airflow home: {airflow.home}")
        if failed:
            _say(f"!! failed runs: {failed} (task logs under {airflow.home / 'logs'})")
            return 1
        return 0
    finally:
        if airflow is not None:
            airflow.stop()
        pg.stop()


def _browser_check(airflow: LocalAirflow, dag_ids: tuple[str, ...]) -> None:
    """Log in to the UI in headless Chromium and keep a screenshot of the DAG list in docs/."""
    from domotic.devtools.ui_check import capture

    target = REPO_ROOT / "docs" / "airflow-ui-dags.png"
    try:
        checked = capture(airflow.api_url, target, list(dag_ids))
        _say(f"== UI check in headless Chromium: no import errors, DAGs listed; screenshot {target}")
    except Exception as exc:  # the pipeline's figures above stand; the browser check is reported, not fatal
        _say(f"!! UI check failed: {type(exc).__name__}: {exc}")
        return
    del checked


def _print_landed(rows: list[tuple]) -> None:
    _say("\nWhat landed in Silver (current file versions):")
    header = f"{'day':<12}{'apartment':<10}{'files':>7}{'rows':>10}{'quarantined':>13}{'ts fallback':>13}{'skipped':>9}"
    _say(header)
    _say("-" * len(header))
    for apartment, day, files, rows_, quarantined, fallbacks, skipped in rows:
        _say(f"{day!s:<12}{apartment or '?':<10}{files:>7}{rows_:>10}{quarantined:>13}{fallbacks:>13}{skipped:>9}")


if __name__ == "__main__":
    raise SystemExit(main())
