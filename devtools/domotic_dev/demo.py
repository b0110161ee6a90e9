"""``make demo``: the whole pipeline on embedded defaults, through a real Airflow scheduler.

1. starts private services on free ports: Postgres (warehouse and Airflow metadata) and MariaDB (loaded from
   ``include/fixtures/pidb.sql``) from the Debian packages under ``.services/demo-*``, and an SFTP server
   serving generated forecast files;
2. loads the 21 days before them straight through the pipeline's loaders and one Gold build (the history a
   running deployment has: the forecasts train on it), then generates 3 days of sensor files (deterministic
   seed, the same simulation) into ``var/demo/share``;
3. starts Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor), runs
   ``mysql_snapshot_weekly`` once, ``sensors_minutely`` for the last generated minute, and
   ``airflow backfill create`` of ``sensors_daily`` and ``weather_daily`` over the days; the Silver asset
   events trigger ``gold_build``; it waits for all of them with a progress line;
4. prints what landed in Silver and a Gold summary per apartment and day, runs ``ml_forecast_daily`` for the
   last day and prints tomorrow's forecast beside the naive baseline, checks the UI in headless Chromium
   (screenshot in docs/), and stops everything it started.

Each run starts from empty Bronze, a fresh warehouse (the same generated history) and a fresh metadata
database, so running it twice prints the same figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from domotic_dev import demo_forecast
from domotic_dev.airflow_local import LocalAirflow
from domotic_dev.services import REPO_ROOT, Service, create_warehouse, ensure_postgres

DEMO_START = date(2023, 10, 28)  # includes the 2023-10-29 change from summer to winter time in Zurich
# Days of history before the demo's own, loaded directly: the gate's 14-day backtest needs 23 days up to the issue
# day (a week of lags before the first refit), so a model is trained, gated and serving in the demo.
HISTORY_DAYS = 21
SEED = 7
SILVER_DAGS = ("sensors_daily", "sensors_minutely", "weather_daily", "mysql_snapshot_weekly")
PIPELINE_DAGS = (*SILVER_DAGS, "gold_build")


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


def _generate(share: Path, start: date, days: int, history_start: date) -> int:
    """The demo days' files, the simulation running from ``history_start`` (continuous with the history)."""
    from domotic.generator.sensors import parse_fault_args, write_range

    faults = parse_fault_args(["corrupt_json=0.0005,bad_datetime=0.0005,non_numeric=0.001,nulls=0.002"])
    report = write_range(share, start, start + timedelta(days=days), faults, seed=SEED, history_start=history_start)
    return report.files_written


def _load_history(pg: Service, args: argparse.Namespace, workdir: Path) -> date:
    """The days before the demo's, through the pipeline's own loaders and one Gold build; their first day."""
    from domotic_dev.ml_warehouse import build_history

    if args.history_days <= 0:
        return args.start
    first = args.start - timedelta(days=args.history_days)
    _say(f"== loading the {args.history_days} days before ({first}..{args.start - timedelta(days=1)}) straight "
         "through the pipeline's loaders and one Gold build: the history a running deployment has (not shown "
         "below); the forecasts train on it")
    timings = build_history(f"host={pg.host} port={pg.port} user={pg.user} dbname=domotic", first,
                            args.history_days, SEED, workdir=workdir)
    _say(f"   {sum(timings.values()):.0f}s (generate {timings['generate_s']:.0f}s, Silver {timings['silver_s']:.0f}s, "
         f"Gold {timings['gold_s']:.0f}s)")
    return first


def _pg_conn_json(pg: Service, dbname: str) -> str:
    return json.dumps({"conn_type": "postgres", "host": pg.host, "port": pg.port, "login": pg.user,
                       "password": pg.password, "schema": dbname})


def _landed(pg: Service, dbname: str, since: date) -> list[tuple]:
    """Silver's current file versions per apartment and UTC day from ``since`` (the demo's days)."""
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname) as conn:
        return conn.execute(
            """
            SELECT apartment, (file_ts AT TIME ZONE 'UTC')::date AS day,
                   count(*) FILTER (WHERE status = 'loaded') AS files,
                   coalesce(sum(rows), 0) AS rows,
                   count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
                   count(*) FILTER (WHERE ts_fallback) AS ts_fallbacks,
                   coalesce(sum(skipped_readings), 0) AS skipped
            FROM silver.file_manifest WHERE is_current AND file_ts >= %s::date::timestamp AT TIME ZONE 'UTC'
            GROUP BY 1, 2 ORDER BY 2, 1
            """, (since,)
        ).fetchall()


def _start_pidb(name: str = "demo-mariadb") -> Service:
    """A private MariaDB loaded from include/fixtures/pidb.sql with the real client."""
    from domotic.paths import FIXTURES_DIR
    from domotic_dev.services import ensure_mariadb

    mariadb = ensure_mariadb(private=True, name=name)
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise RuntimeError("the mariadb client is missing: run make install")
    done = subprocess.run([client, "--protocol=TCP", "-h", mariadb.host, "-P", str(mariadb.port), "-u", "root"],
                          input=(FIXTURES_DIR / "pidb.sql").read_text(encoding="utf-8"), text=True,
                          capture_output=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"loading pidb.sql into MariaDB failed: {done.stderr[-2000:]}")
    return mariadb


def _start_meteo_sftp(root: Path, start: date, days: int, rows_scale: float = 0.05, port: int | None = None) -> Service:
    """Forecast files for the given days on a real SFTP server (asyncssh) on loopback."""
    from domotic.generator.weather import write_forecast_files
    from domotic_dev.services import start_sftp

    write_forecast_files(root / "Meteo2", start, days, seed=SEED, rows_scale=rows_scale)
    return start_sftp(root, port=port)


def _connections(pg: Service, mariadb: Service, sftp: Service) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_DOMOTIC_POSTGRES": _pg_conn_json(pg, "domotic"),
        "AIRFLOW_CONN_PIDB_MYSQL": json.dumps({"conn_type": "mysql", "host": mariadb.host, "port": mariadb.port,
                                               "login": mariadb.user, "password": "", "schema": "pidb"}),
        # Host keys are verified: the demo pins the key its own SFTP server generated.
        "AIRFLOW_CONN_METEO_SFTP": json.dumps({
            "conn_type": "sftp", "host": sftp.host, "port": sftp.port, "login": sftp.user, "password": sftp.password,
            "extra": {"host_key": f"{sftp.extra['host_key_type']} {sftp.extra['host_key']}"}}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--start", type=date.fromisoformat, default=DEMO_START)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS,
                        help="days of history loaded directly before the demo's own (0: none; the forecasts then "
                             "issue the naive baselines)")
    args = parser.parse_args(argv)

    root = REPO_ROOT / "var" / "demo"
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    stoppable: list[Service] = []
    airflow = None
    try:
        pg, mariadb, sftp = _start_services(root, args, stoppable)
        airflow = _start_airflow(root, args, pg, mariadb, sftp)
        wanted = [dag for dag in PIPELINE_DAGS if (REPO_ROOT / "dags" / f"{dag}.py").exists()]
        airflow.wait_dags_parsed(wanted)
        for dag_id in wanted:
            airflow.cli("dags", "unpause", dag_id)
        _create_runs(airflow, args)
        airflow.wait_runs(_silver_done(airflow, args.days), wanted, args.timeout, _progress)
        if "gold_build" in wanted:
            _say("== waiting for the asset-triggered gold_build runs")
            _wait_quiet(airflow, "gold_build", args.timeout)
        failed = airflow.query("SELECT dag_id, run_id FROM dag_run WHERE state = 'failed' AND dag_id = ANY(%s)",
                               (wanted,))
        _print_landed(_landed(pg, "domotic", args.start))
        _print_gold_summary(pg, "domotic", args.start)
        forecast_ok = _forecast(airflow, pg, args)
        missing = _check_gold_coverage(pg, "domotic")
        ui_ok = _browser_check(airflow, tuple(wanted))
        _say(f"== done in {time.monotonic() - started:.0f}s; Airflow home: {airflow.home}")
        if failed:
            _say(f"!! failed runs: {failed} (task logs under {airflow.home / 'logs'})")
        return 1 if failed or missing or not ui_ok or not forecast_ok else 0
    finally:
        if airflow is not None:
            airflow.stop()
        for service in reversed(stoppable):
            service.stop()


def _start_services(root: Path, args: argparse.Namespace, stoppable: list[Service]) -> tuple[Service, ...]:
    """Private PostgreSQL (migrated warehouse + Airflow metadata), MariaDB (pidb), SFTP; the sensor files."""
    _say("== starting private services: PostgreSQL (warehouse + Airflow metadata), MariaDB (pidb), SFTP")
    pg = ensure_postgres(private=True, name="demo-postgres")
    stoppable.append(pg)
    schema = create_warehouse(pg, "domotic", drop=True)
    _say(f"   warehouse schema at version {schema['to']} (the deploy step: python -m domotic.warehouse migrate)")
    mariadb = _start_pidb()
    stoppable.append(mariadb)
    sftp = _start_meteo_sftp(root / "sftp", args.start, args.days)
    stoppable.append(sftp)
    history_start = _load_history(pg, args, root)
    share = root / "share"
    share.mkdir(parents=True)
    _say(f"== generating {args.days} days of sensor files from {args.start} into {share}")
    _say(f"   {_generate(share, args.start, args.days, history_start)} sensor files; forecast files on "
         f"sftp://127.0.0.1:{sftp.port}/Meteo2")
    return pg, mariadb, sftp


def _start_airflow(root: Path, args: argparse.Namespace, pg: Service, mariadb: Service, sftp: Service
                   ) -> LocalAirflow:
    airflow = LocalAirflow(
        home=root / "airflow",
        meta=pg,
        extra_env={
            **_connections(pg, mariadb, sftp),
            "AIRFLOW_VAR_DOMOTIC_SMB_PATH": str(root / "share"),
            "AIRFLOW_VAR_DOMOTIC_BRONZE_ROOT": str(root / "bronze"),
            "AIRFLOW_VAR_SENSOR_WAIT_SECONDS": "10",
            "DOMOTIC_HISTORY_START": args.start.isoformat(),
            "DOMOTIC_CATCHUP": "false",
            "DOMOTIC_SFTP_RETRY_DELAY_SECONDS": "10",
        },
    )
    _say("== starting Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor)")
    airflow.reset_metadata()
    airflow.start()
    return airflow


def _forecast(airflow: LocalAirflow, pg: Service, args: argparse.Namespace) -> bool:
    """ml_forecast_daily for the last demo day (docs/ml.md): tomorrow's forecast beside the naive baseline."""
    end_day = args.start + timedelta(days=args.days - 1)
    ok = demo_forecast.run_forecast(airflow, end_day, _say)
    demo_forecast.print_forecast(f"host={pg.host} port={pg.port} user={pg.user} dbname=domotic", end_day, _say)
    return ok


def _create_runs(airflow: LocalAirflow, args: argparse.Namespace) -> None:
    """What an operator does on a fresh install: the first snapshot, the history backfills, a live minute."""
    end_day = args.start + timedelta(days=args.days - 1)
    _say("== mysql_snapshot_weekly (manual run, as for a fresh install)")
    airflow.cli("dags", "trigger", "mysql_snapshot_weekly", "--run-id", "demo_first_snapshot")
    last_minute = datetime(end_day.year, end_day.month, end_day.day, 23, 59, tzinfo=UTC)
    _say(f"== sensors_minutely for the minute {last_minute:%Y-%m-%d %H:%M} UTC")
    airflow.cli("dags", "trigger", "sensors_minutely", "--run-id", "demo_last_minute",
                "--logical-date", (last_minute + timedelta(minutes=1)).isoformat())
    _say(f"== airflow backfill create --dag-id sensors_daily --from-date {args.start} --to-date {end_day}")
    # One day at a time: the first events through the silver_sensor_loads alias link it to its asset, and two
    # at once collide in Airflow 3.3.2 (docs/runbook.md §7.7).
    airflow.cli("backfill", "create", "--dag-id", "sensors_daily", "--from-date", args.start.isoformat(),
                "--to-date", end_day.isoformat(), "--max-active-runs", "1")
    # weather_daily runs at 07:30 Zurich: the run of the last day is at 07:30 that day, after the bare date.
    weather_to = f"{end_day.isoformat()}T12:00:00"
    _say(f"== airflow backfill create --dag-id weather_daily --from-date {args.start} --to-date {weather_to}")
    airflow.cli("backfill", "create", "--dag-id", "weather_daily", "--from-date", args.start.isoformat(),
                "--to-date", weather_to, "--max-active-runs", "1")


def _silver_done(airflow: LocalAirflow, days: int):
    """A ``wait_runs`` predicate: both backfills and both manual runs have finished."""

    def done(_states: dict[str, dict[str, int]]) -> bool:
        rows = airflow.query(
            "SELECT dag_id, run_type, run_id, state FROM dag_run WHERE dag_id = ANY(%s)", (list(SILVER_DAGS),))
        backfills = [r for r in rows if r[1] == "backfill"]
        manual = [r for r in rows if r[2] in ("demo_first_snapshot", "demo_last_minute")]
        finished = ("success", "failed")
        return len(backfills) == 2 * days and len(manual) == 2 and all(r[3] in finished for r in backfills + manual)

    return done


def _wait_quiet(airflow: LocalAirflow, dag_id: str, timeout: float, settle: float = 20) -> None:
    """Wait until the DAG has runs and none has been queued or running for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        busy = airflow.query("SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN ('queued', 'running')",
                             (dag_id,))[0][0]
        states = airflow.run_states([dag_id])
        _progress(states, time.monotonic() - (deadline - timeout))
        if busy == 0 and states.get(dag_id):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        airflow.check_alive()
        time.sleep(1)
    raise TimeoutError(f"{dag_id} still busy after {timeout:.0f}s")


def _print_gold_summary(pg: Service, dbname: str, since: date) -> None:
    from domotic_dev.demo_summary import gold_summary

    rows = gold_summary(pg, dbname, since)
    if rows is None:
        return
    _say("\nGold summary per apartment and day (UTC days):")
    header = (f"{'day':<12}{'apartment':<10}{'kWh':>8}{'CHF':>8}{'presence h':>12}{'indoor °C':>11}"
              f"{'CO2 ppm':>9}{'uptime %':>10}{'forecast °C':>13}")
    _say(header)
    _say("-" * len(header))
    for r in rows:
        _say(f"{r['day']!s:<12}{r['apartment']:<10}{_num(r['kwh'], 2):>8}{_num(r['chf'], 2):>8}"
             f"{_num(r['presence_hours'], 1):>12}{_num(r['indoor_c'], 1):>11}{_num(r['co2_ppm'], 0):>9}"
             f"{_num(r['uptime_pct'], 1):>10}{_num(r['forecast_c'], 1):>13}")


def _check_gold_coverage(pg: Service, dbname: str) -> list:
    """Every UTC day holding Silver rows must be in Gold (the ledger's guarantee); the days missing, named."""
    from domotic.gold import ledger as gold_ledger

    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname) as conn:
        missing = gold_ledger.missing_gold_days(conn)
        pending = gold_ledger.pending(conn).changes
    if missing:
        _say(f"!! Silver days missing from Gold: {', '.join(str(day) for day in missing)} "
             f"({pending} change(s) still pending in silver.gold_ledger)")
    else:
        _say(f"== every Silver day is in Gold ({pending} change(s) pending in silver.gold_ledger)")
    return missing


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _browser_check(airflow: LocalAirflow, dag_ids: tuple[str, ...]) -> bool:
    """The operator's tour of the UI in headless Chromium (domotic_dev.ui_check), screenshots kept in docs/.
    False (the demo fails) when a page fails or the UI received any HTTP status >= 500."""
    from domotic_dev.ui_check import capture

    target = REPO_ROOT / "docs" / "airflow-ui-dags.png"
    try:
        checked = capture(airflow.api_url, target, list(dag_ids))
    except Exception as exc:
        _say(f"!! UI check failed: {type(exc).__name__}: {exc}")
        return False
    _say(f"== UI check in headless Chromium: no import errors, no server error; DAG list, {checked['docs_opened']}"
         f" DAG docs, gold_build graph ({checked.get('gold_graph_nodes')} nodes), asset graph "
         f"({checked['asset_graph_nodes']} nodes), a task log; screenshots in {target.parent}")
    return True


def _print_landed(rows: list[tuple]) -> None:
    _say("\nWhat landed in Silver (current file versions):")
    header = f"{'day':<12}{'apartment':<10}{'files':>7}{'rows':>10}{'quarantined':>13}{'ts fallback':>13}{'skipped':>9}"
    _say(header)
    _say("-" * len(header))
    for apartment, day, files, rows_, quarantined, fallbacks, skipped in rows:
        _say(f"{day!s:<12}{apartment or '?':<10}{files:>7}{rows_:>10}{quarantined:>13}{fallbacks:>13}{skipped:>9}")


if __name__ == "__main__":
    raise SystemExit(main())
