"""A warehouse holding demo data for the BI layer (``make bi``, the BI checks), without Airflow.

``fill_demo_warehouse`` generates ``make demo``'s days (same start, the 2023-10-29 DST change inside, same seed)
and runs the pipeline's own code on them: the Silver sensor loader, the weather cleaner and loader on
generated forecast files, a few sensor errors as the reference snapshot would leave them, then one full Gold
build, and the naive forecasts the ML DAG issues before it has a model. (The warehouse logins Superset queries as are created by ``bi/provision.py logins``.)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

from domotic_dev.services import REPO_ROOT, Service, create_warehouse

DEMO_START = date(2023, 10, 28)  # make demo's first day
BI_USERS_FILE = REPO_ROOT / "bi" / "users.yaml"


def conninfo(pg: Service, dbname: str) -> str:
    return f"host={pg.host} port={pg.port} user={pg.user} dbname={dbname}" + (
        f" password={pg.password}" if pg.password else "")


def bi_users() -> list[dict[str, str]]:
    return yaml.safe_load(BI_USERS_FILE.read_text(encoding="utf-8"))["users"]


def has_demo_data(pg: Service, dbname: str) -> bool:
    with contextlib.suppress(psycopg.OperationalError), psycopg.connect(conninfo(pg, dbname)) as conn:
        found = conn.execute("SELECT to_regclass('gold.fact_energy_minute') IS NOT NULL").fetchone()[0]
        return bool(found and conn.execute("SELECT EXISTS (SELECT FROM gold.fact_energy_minute)").fetchone()[0])
    return False


def fill_demo_warehouse(pg: Service, dbname: str, *, start: date = DEMO_START, days: int = 3,
                        seed: int = 7) -> dict[str, Any]:
    """A fresh warehouse ``dbname`` (dropped first) with ``days`` generated days through Silver and Gold."""
    from domotic import gold
    from domotic.generator.sensors import parse_fault_args, write_range
    from domotic.generator.weather import write_forecast_files
    from domotic.gold import BuildPlan, Window
    from domotic.sensors.load import load_bronze_files
    from domotic.weather import prediction_date_from_name
    from domotic.weather.clean import clean_forecast_file
    from domotic.weather.load import load_cleaned, prepare_session

    started = time.monotonic()
    create_warehouse(pg, dbname, drop=True)
    info = conninfo(pg, dbname)
    work = Path(tempfile.mkdtemp(prefix="domotic-bi-"))
    try:
        share, meteo = work / "share", work / "meteo"
        share.mkdir()
        faults = parse_fault_args(["corrupt_json=0.0005,bad_datetime=0.0005,non_numeric=0.001,nulls=0.002"])
        write_range(share, start, start + timedelta(days=days), faults, seed=seed, history_start=start)
        stats = load_bronze_files(lambda: psycopg.connect(info), sorted(str(p) for p in share.iterdir()))
        write_forecast_files(meteo, start, days, seed=seed, rows_scale=0.05, defects=False)
        with psycopg.connect(info) as conn:
            prepare_session(conn)
            for path in sorted(meteo.iterdir()):
                issued = prediction_date_from_name(path.name)
                if issued is None:
                    continue
                load_cleaned(conn, clean_forecast_file(path, issued, min_year=2023))
                conn.commit()
            _sensor_errors(conn, start, days)
            conn.execute("DELETE FROM silver.gold_ledger")  # the full build below covers every change
            conn.commit()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    sensor = Window(first, first + timedelta(days=days))
    weather = Window(first, first + timedelta(days=days + 6))
    with psycopg.connect(info) as conn:
        gold.build(conn, BuildPlan([sensor], [weather], refresh_reference=True, reason="bi demo").parameters(["Sion"]))
        conn.commit()
        forecasts = issue_demo_forecasts(conn, start, days)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {"files": stats.files_loaded, "rows": stats.rows, "days": days, "forecast_rows": forecasts,
            "seconds": round(time.monotonic() - started, 1)}


def _sensor_errors(conn: Any, start: date, days: int) -> None:
    """A handful of gateway errors per apartment and day (what the weekly pidb snapshot would bring)."""
    rows = []
    for offset in range(days):
        day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=offset)
        for apartment, building, sensors in (("jimmy", 1, (1, 5)), ("jeremie", 2, (11, 13))):
            for i, sensor in enumerate(sensors * (offset + 1)):
                error_id = len(rows) + 1
                rows.append((error_id, building, apartment, sensor, day + timedelta(hours=3 + 5 * i)))
    conn.cursor().executemany(
        "INSERT INTO silver.di_errors_clean (error_id, building_id, apartment, sensor_id, \"timestamp\", severity,"
        " error_message) VALUES (%s, %s, %s, %s, %s, 'low', 'gateway timeout') ON CONFLICT DO NOTHING", rows)


def issue_demo_forecasts(conn: Any, start: date, days: int, site: str = "Sion") -> int:
    """The forecasts ``ml_forecast_daily`` issues on each demo day, written by the ML package's own code.

    A few demo days are far too little history to train and promote a model (docs/ml.md: the backtest gate),
    so, as in production before the first promoted bundle, every issue is the naive baseline, with its reason
    on every row. Issue day D forecasts D+1: all but the last one face measured hours, so the Forecast
    dashboard shows forecast beside actual. Returns the rows written."""
    from domotic.ml import forecast
    from domotic.ml.history import read_history

    written = 0
    for offset in range(days):
        day = start + timedelta(days=offset)
        history = read_history(conn, start, day, site)
        result = forecast.naive_issue(history, day, "demo warehouse: too little history for a model")
        written += forecast.write(conn, result, history.apartment_keys, f"bi_demo__{day.isoformat()}")
        conn.commit()
    return written
