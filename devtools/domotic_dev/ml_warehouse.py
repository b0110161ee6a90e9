"""A warehouse holding generated history through the pipeline's own loaders, for the forecasts' tests, the
benchmark and the demo: sensor files -> Silver (``load_bronze_files``), forecast files -> Silver
(``weather.load.clean_and_load``), then one full Gold build. Same seed for both generators, so the Sion forecast
describes the weather the sensors saw (docs/ml.md).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

FORECAST_SITES = 2  # Sion (the simulated site) and one other: small files, the same Sion values as full ones


def load_forecasts(connect: Callable[[], Any], folder: Path, start: date, days: int, seed: int) -> int:
    """Generate and load ``days`` forecast files from ``start`` (as ``weather_daily`` would)."""
    from domotic import weather
    from domotic.generator.weather import write_forecast_files
    from domotic.weather import fetch as weather_fetch
    from domotic.weather import load as weather_load

    files = write_forecast_files(folder, start, days, seed=seed, sites=FORECAST_SITES, predictions=2,
                                 horizon_days=3, defects=False)
    items = []
    with connect() as conn:
        for f in files:
            checksum = weather_fetch.file_sha256(f.path)
            conn.execute(weather.read_sql("manifest_record_download.sql"), {
                "source_name": f.path.name, "checksum": checksum, "prediction_date": f.issue_date,
                "remote_path": f"/Meteo2/{f.path.name}", "remote_size": f.path.stat().st_size,
                "remote_mtime": datetime(2024, 1, 1, tzinfo=UTC), "bronze_path": str(f.path)})
            items.append(weather_load.LoadItem(f.path.name, checksum, f.path, f.issue_date))
        conn.commit()
    weather_load.clean_and_load(connect, items, min_year=2023, loaders=1)
    return len(files)


def build_history(info: str, start: date, days: int, seed: int, *, workdir: Path | None = None,
                  forecast_days: int | None = None) -> dict[str, float]:
    """Migrate, load ``days`` generated days from ``start`` and their forecasts, build Gold; returns timings."""
    from domotic import gold
    from domotic.generator.sensors import write_range
    from domotic.gold import BuildPlan, Window
    from domotic.sensors.load import load_bronze_files
    from domotic.warehouse.migrations import apply as migrate

    timings: dict[str, float] = {}
    with psycopg.connect(info) as conn:
        migrate(conn)
    folder = Path(tempfile.mkdtemp(prefix="ml-history-", dir=workdir))
    try:
        started = time.perf_counter()
        write_range(folder / "share", start, start + timedelta(days=days), seed=seed, history_start=start)
        timings["generate_s"] = time.perf_counter() - started
        started = time.perf_counter()
        load_bronze_files(lambda: psycopg.connect(info), sorted(str(p) for p in (folder / "share").iterdir()))
        load_forecasts(lambda: psycopg.connect(info), folder / "meteo", start, forecast_days or days, seed)
        timings["silver_s"] = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    end = first + timedelta(days=days)
    plan = BuildPlan([Window(first, end)], [Window(first, end + timedelta(days=3))], refresh_reference=True,
                     reason="ml history")
    started = time.perf_counter()
    with psycopg.connect(info) as conn:
        gold.build(conn, plan.parameters(["Sion"]))
        conn.execute("DELETE FROM silver.gold_ledger")  # the loaders' changes are built
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    timings["gold_s"] = time.perf_counter() - started
    return timings
