"""Benchmark of the Gold build (``make bench``): a full build, then asset-sized incremental windows.

``bench_gold(connect)`` works on an existing Silver database (the warehouse of the ``domotic_postgres``
connection unless a psycopg ``connect`` callable is passed). It **drops and rebuilds the gold schema**: point it
at a scratch database. It measures, as the SQL of one ``gold_build`` transaction (``domotic.gold.build``):

* ``full``: one window over the whole Silver history (sensor and weather), on an empty Gold;
* ``day``: a one-day window (the middle day of the history), Gold already full;
* ``minute``: one-minute windows, the way ``sensors_minutely``'s asset events trigger them: the last minute of
  the history (the live case) and a minute in the middle (a late file), median of ``repeat`` runs each;
* ``rerun_day``: the same day again (nothing changes: what an idempotent re-run costs);
* ``ledger_claim``: claiming and merging 10,000 pending changes of Gold's work ledger (``build/02_claim.sql`` and
  ``build/03_windows.sql``, one-minute windows spread over the history, rolled back), median of ``repeat`` runs.

The cost of a window must not grow with history: run it on 7 and on 70 days of Silver and compare
(``generate_silver`` fills a scratch database with generated days through the real Silver loader).

    python -m domotic_dev.bench_gold --generate-days 70 --dbname domotic_bench_gold
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic import gold
from domotic.gold.ledger import Pending, PendingScope
from domotic.warehouse.migrations import apply as migrate

Connect = Callable[[], Any]


def generate_silver(connect: Connect, first_day: date, days: int, *, seed: int = 0,
                    workdir: Path | None = None) -> dict[str, Any]:
    """Generate ``days`` days of sensor files from ``first_day`` and load them into Silver, day by day."""
    from domotic.generator.sensors import SensorSimulator, write_range
    from domotic.sensors.load import load_bronze_files

    with contextlib.closing(connect()) as conn:
        migrate(conn)
    simulator = SensorSimulator(seed, first_day)
    rows = files = 0
    started = time.perf_counter()
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        folder = Path(tempfile.mkdtemp(prefix="gold-bench-", dir=workdir))
        try:
            write_range(folder, day, day + timedelta(days=1), simulator=simulator)
            paths = sorted(str(p) for p in folder.iterdir())
            stats = load_bronze_files(connect, paths)
            rows += stats.rows
            files += stats.files_loaded
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    with contextlib.closing(connect()) as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE silver.sensor_readings")
        conn.execute("VACUUM ANALYZE silver.file_manifest")
    return {"days": days, "files": files, "rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def _silver_range(conn: Any) -> tuple[datetime, datetime]:
    row = conn.execute("SELECT min(ts), max(ts) FROM silver.sensor_readings").fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("silver.sensor_readings is empty: load Silver first (generate_silver)")
    first, last = row
    weather = conn.execute(
        "SELECT min(timestamp), max(timestamp) FROM silver.weather_forecasts"
    ).fetchone()
    if weather and weather[0] is not None:
        first, last = min(first, weather[0]), max(last, weather[1])
    return first, last + timedelta(minutes=1)


def _timed_build(conn: Any, plan: gold.BuildPlan) -> tuple[float, list[tuple[str, float]]]:
    started = time.perf_counter()
    timings = gold.build(conn, plan.parameters())
    return time.perf_counter() - started, timings


def _reset_gold(conn: Any) -> None:
    """An empty Gold, as before its first build (the schema stays; the tariff seed and tenants stay)."""
    migrate(conn)
    built = [t for t in gold.GOLD_TABLES if t != "dim_tariff"] + ["build_window"]
    conn.execute("TRUNCATE " + ", ".join(f"gold.{t}" for t in built))
    conn.commit()


def bench_gold(connect: Connect | None = None, *, repeat: int = 5) -> dict[str, Any]:
    """Time a full Gold build and incremental windows on the Silver of ``connect``; returns seconds."""
    from domotic.airflow_adapter import warehouse_connection

    connect = connect or warehouse_connection
    with contextlib.closing(connect()) as conn:
        _reset_gold(conn)
        first, end = _silver_range(conn)
        readings = conn.execute("SELECT count(*) FROM silver.sensor_readings").fetchone()[0]
        full = gold.Window.of(first, end)
        seconds, steps = _timed_build(conn, gold.BuildPlan([full], [full], refresh_reference=True, reason="full"))
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a large load
        conn.autocommit = False
        result: dict[str, Any] = {
            "silver_readings": readings,
            "weather_forecasts": conn.execute("SELECT count(*) FROM silver.weather_forecasts").fetchone()[0],
            "silver_days": round((end - first) / timedelta(days=1), 1),
            "full": {"seconds": round(seconds, 2), "steps": {name: round(s, 2) for name, s in steps}},
            "gold_rows": {t: conn.execute(f"SELECT count(*) FROM gold.{t}").fetchone()[0]
                          for t in gold.GOLD_TABLES},
        }
        middle_day = (first + (end - first) / 2).date()
        day = gold.day_window(middle_day)
        seconds, steps = _timed_build(conn, gold.BuildPlan([day], [day], reason="day"))
        result["day"] = {"seconds": round(seconds, 3), "steps": {name: round(s, 3) for name, s in steps}}
        seconds, _ = _timed_build(conn, gold.BuildPlan([day], [day], reason="day again"))
        result["rerun_day"] = {"seconds": round(seconds, 3)}
        for label, minute in (("minute_last", end - timedelta(minutes=1)),
                              ("minute_middle", datetime.combine(middle_day, datetime.min.time(), UTC)
                               + timedelta(hours=13, minutes=7))):
            window = gold.Window(minute, minute + timedelta(minutes=1))
            runs = []
            steps_of_median: list[tuple[str, float]] = []
            for _ in range(repeat):
                seconds, steps = _timed_build(conn, gold.BuildPlan([window], reason=label))
                runs.append(seconds)
                steps_of_median = steps
            result[label] = {"seconds": round(statistics.median(runs), 3),
                             "steps": {name: round(s, 3) for name, s in steps_of_median}}
        result["ledger_claim"] = bench_ledger_claim(conn, first, end, repeat=repeat)
    return result


def bench_ledger_claim(conn: Any, first: datetime, end: datetime, *, changes: int = 10_000,
                       repeat: int = 5) -> dict[str, Any]:
    """Seconds to claim and merge ``changes`` pending ledger rows (one-minute windows across the history)."""
    import random

    rng = random.Random(0)
    minutes = max(1, int((end - first) / timedelta(minutes=1)) - 1)
    starts = [first + timedelta(minutes=rng.randrange(minutes)) for _ in range(changes)]
    plan = gold.BuildPlan(reason="ledger bench", pending=Pending((PendingScope("sensor", changes, first, end,
                                                                                first, 0),)))
    params = plan.parameters()
    statements = [gold.read_sql("gold/build/02_claim.sql"), gold.read_sql("gold/build/03_windows.sql")]
    runs, windows = [], 0
    for _ in range(repeat):
        with conn.cursor() as cur:  # committed first, as the Silver writers leave them
            cur.executemany("INSERT INTO silver.gold_ledger (scope, window_start, window_end, source)"
                            " VALUES ('sensor', %s, %s, 'bench')",
                            [(start, start + timedelta(minutes=1)) for start in starts])
        conn.commit()
        with conn.cursor() as cur:
            started = time.perf_counter()
            for statement in statements:
                cur.execute(statement, params)
            runs.append(time.perf_counter() - started)
            windows = cur.execute("SELECT count(*) FROM gold_window").fetchone()[0]
        conn.rollback()
        conn.execute("DELETE FROM silver.gold_ledger WHERE source = 'bench'")
        conn.commit()
    return {"changes": changes, "merged_windows": windows, "seconds": round(statistics.median(runs), 4)}


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dbname", default="domotic_bench_gold")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--generate-days", type=int, default=0,
                        help="(re)create the database and load this many generated days first")
    parser.add_argument("--first-day", default="2023-08-18")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    conninfo = f"host={args.host} port={args.port} user={args.user} dbname={args.dbname}"
    if args.generate_days:
        from psycopg import sql

        with psycopg.connect(f"host={args.host} port={args.port} user={args.user} dbname=postgres",
                             autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.dbname)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.dbname)))
        loaded = generate_silver(lambda: psycopg.connect(conninfo), date.fromisoformat(args.first_day),
                                 args.generate_days)
        print(json.dumps({"silver": loaded}))
    print(json.dumps(bench_gold(lambda: psycopg.connect(conninfo), repeat=args.repeat), indent=2))


if __name__ == "__main__":
    main()
