"""Benchmark of the weather clean + load path (``make bench``): generated full-size files into Silver.

Measures what a catch-up or backfill of ``weather_daily`` does per file once the files are in Bronze:
read and clean the CSV (pandas), binary COPY into staging, replace the issue date in
``silver.weather_forecasts``, merge ``silver.weather_clean``, record manifest and stats. The sFTP download
is not part of it (network bound, not CPU bound).

It writes to the warehouse of the ``domotic_postgres`` connection (or the psycopg connection passed in):
point it at a scratch database. Issue dates start in 2030 so they cannot collide with real forecasts, and
their rows are deleted before and after the run.

    python -m domotic_dev.bench_weather --files 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic import weather
from domotic.generator.weather import write_forecast_files
from domotic.warehouse.migrations import apply as migrate
from domotic.weather import fetch as weather_fetch
from domotic.weather import load as weather_load

BENCH_START = date(2030, 1, 1)


def _cleanup(conn: Any, names: list[str], first: date, last: date) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM silver.weather_forecasts WHERE prediction_date BETWEEN %s AND %s", (first, last)
        )
        cur.execute("DELETE FROM silver.weather_clean WHERE prediction_date BETWEEN %s AND %s", (first, last))
        cur.execute("DELETE FROM silver.weather_file_manifest WHERE source_name = ANY(%s)", (names,))
    conn.commit()


def bench_weather(
    n_files: int = 30,
    rows_scale: float = 1.0,
    *,
    connect: Callable[[], Any] | None = None,
    workdir: Path | None = None,
    seed: int = 7,
    loaders: int = 2,
) -> dict[str, Any]:
    """Clean and load ``n_files`` generated files; returns input rows, seconds and input rows per second."""
    from domotic.airflow_adapter import warehouse_connection

    connect = connect or warehouse_connection
    with contextlib.closing(connect()) as conn:
        return _bench(conn, connect, n_files, rows_scale, workdir, seed, loaders)


def _bench(
    conn: Any,
    connect: Callable[[], Any],
    n_files: int,
    rows_scale: float,
    workdir: Path | None,
    seed: int,
    loaders: int,
) -> dict[str, Any]:

    migrate(conn)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        files = write_forecast_files(Path(tmp), BENCH_START, n_files, seed=seed, rows_scale=rows_scale)
        names = [f.path.name for f in files]
        last = BENCH_START + timedelta(days=n_files - 1)
        _cleanup(conn, names, BENCH_START, last)
        items = []
        with conn.cursor() as cur:
            for f in files:
                checksum = weather_fetch.file_sha256(f.path)
                cur.execute(
                    weather.read_sql("manifest_record_download.sql"),
                    {
                        "source_name": f.path.name,
                        "checksum": checksum,
                        "prediction_date": f.issue_date,
                        "remote_path": f"/bench/{f.path.name}",
                        "remote_size": f.path.stat().st_size,
                        "remote_mtime": datetime.now(UTC),
                        "bronze_path": str(f.path),
                    },
                )
                items.append(weather_load.LoadItem(f.path.name, checksum, f.path, f.issue_date))
        conn.commit()
        input_rows = sum(f.rows for f in files)
        started = time.perf_counter()
        outcomes = weather_load.clean_and_load(connect, items, min_year=2023, loaders=loaders)
        seconds = time.perf_counter() - started
        loaded_rows = sum(o.rows_loaded for o in outcomes)
        _cleanup(conn, names, BENCH_START, last)
    return {
        "files": n_files,
        "input_rows": input_rows,
        "loaded_rows": loaded_rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(input_rows / seconds),
        "files_per_min": round(n_files / seconds * 60, 1),
        "loaders": loaders,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--rows-scale", type=float, default=1.0)
    parser.add_argument("--loaders", type=int, default=2, help="concurrent load connections")
    args = parser.parse_args()
    print(json.dumps(bench_weather(args.files, args.rows_scale, loaders=args.loaders), indent=2))


if __name__ == "__main__":
    main()
