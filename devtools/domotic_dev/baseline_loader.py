"""The benchmark's baseline: a straightforward loader written the way the original worked.

legacy-system.md sections 4.1, 6.2 and 6.3, from the share to Silver as the original's loop did it:

* ``copy_to_bronze``: ``bulk_to_bronze``, copying the new files into the hour-partitioned Bronze tree with 16
  threads (timestamps preserved), skipping names Bronze already holds;
* ``new_bronze_files``: ``flatten_sensors``'s discovery, the whole watermark set against a recursive listing of
  Bronze;
* ``load``: batches of 5,000 files parsed by an 8-process pool (per-file ``json.load`` into row dicts); the
  parent takes each batch as it completes: CSV ``COPY`` into a temporary table, one ``INSERT ... SELECT
  DISTINCT ON ... ON CONFLICT`` into the original ``sensor_events`` schema with its five-column unique
  constraint and three indexes, the batch's watermark rows in a second commit, then the compression of its
  Bronze files (gzip level 6, original removed, names appended to ``processed.log``), its default (§6.4).

The one liberty: at most 8 batches are in flight (the original queued them all, holding every parsed batch in
memory). Only ``make bench`` uses it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from domotic.sensors.names import bronze_dir

DDL = """
CREATE SCHEMA IF NOT EXISTS baseline;
DROP TABLE IF EXISTS baseline.sensor_events;
CREATE TABLE baseline.sensor_events (
    id          BIGSERIAL PRIMARY KEY,
    apartment   VARCHAR(20) NOT NULL,
    room        VARCHAR(50) NOT NULL,
    sensor_type VARCHAR(20) NOT NULL,
    field       VARCHAR(50) NOT NULL,
    value       FLOAT,
    unit        VARCHAR(10),
    "timestamp" TIMESTAMPTZ NOT NULL,
    is_outlier  BOOLEAN DEFAULT FALSE,
    UNIQUE (apartment, room, sensor_type, field, "timestamp")
);
CREATE INDEX idx_sensor_events_timestamp ON baseline.sensor_events ("timestamp");
CREATE INDEX idx_sensor_events_apartment ON baseline.sensor_events (apartment);
CREATE INDEX idx_sensor_events_sensor_type ON baseline.sensor_events (sensor_type);
DROP TABLE IF EXISTS baseline.etl_watermark;
CREATE TABLE baseline.etl_watermark (filename VARCHAR(200) PRIMARY KEY, processed_at TIMESTAMPTZ DEFAULT now());
"""
ROOMS = {"Bhroom": "Bathroom", "Bdroom": "Bedroom", "Livingroom": "Living Room"}
BOUNDS = {"temperature_c": (-20, 60), "humidity_pct": (0, 100), "co2_ppm": (300, 5000), "noise_db": (0, 140),
          "pressure_hpa": (870, 1085), "power": (0, 10000), "battery": (0, 100)}
METEO = {"Temperature": ("temperature_c", "C"), "CO2": ("co2_ppm", "ppm"), "Humidity": ("humidity_pct", "%"),
         "Noise": ("noise_db", "dB"), "Pressure": ("pressure_hpa", "hPa"),
         "AbsolutePressure": ("abs_pressure_hpa", "hPa"), "battery_percent": ("battery", "%")}
COLUMNS = ("apartment", "room", "sensor_type", "field", "value", "unit", "timestamp", "is_outlier")
COPY_SQL = ("COPY _tmp_sensor_events (apartment, room, sensor_type, field, value, unit, \"timestamp\", is_outlier)"
            " FROM STDIN WITH (FORMAT csv)")


def _apartment(name: str) -> str:
    return "jimmy" if "jimmyloup" in name.lower() else "jeremie"


def _bronze_path(bronze: Path, name: str) -> Path:
    """``<bronze>/<apt>/YYYY/MM/DD/HH/<name>`` from the file-name minute, as the original partitioned it."""
    return bronze_dir(bronze, _apartment(name), datetime.strptime(name[:15], "%d.%m.%Y %H%M")) / name


def copy_to_bronze(share: Path, names: list[str], bronze: Path, threads: int = 16) -> int:
    """``bulk_to_bronze``: copy what Bronze lacks with 16 threads, keeping the share's timestamps."""
    def copy(name: str) -> int:
        target = _bronze_path(bronze, name)
        if target.exists() or target.with_name(f"{name}.gz").exists():
            return 0
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(share / name, target)
        return 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(copy, names))


def new_bronze_files(conninfo: str, bronze: Path) -> list[str]:
    """``flatten_sensors``'s discovery: every ``*.json*`` under Bronze whose name the watermark lacks."""
    with psycopg.connect(conninfo) as conn:
        done = {row[0] for row in conn.execute("SELECT filename FROM baseline.etl_watermark")}
    return sorted(os.path.join(folder, name) for folder, _, files in os.walk(bronze) for name in files
                  if ".json" in name and name.removesuffix(".gz") not in done)


def _row(apartment, room, sensor_type, field, value, unit, ts) -> dict:
    low, high = BOUNDS.get(field, (None, None))
    value = float(value)
    return {"apartment": apartment, "room": ROOMS.get(room, room), "sensor_type": sensor_type, "field": field,
            "value": value, "unit": unit, "timestamp": ts,
            "is_outlier": low is not None and not (low <= value <= high)}


def flatten(path: str) -> list[dict]:
    """The original's per-file flatten: one dict per reading (errors skip the whole file)."""
    apartment = _apartment(os.path.basename(path))
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    ts = datetime.strptime(data["datetime"], "%d.%m.%Y %H:%M").replace(tzinfo=UTC).isoformat()
    rows = []
    for room, plug in (data.get("plugs") or {}).items():
        for key, unit in (("power", "W"), ("total", "Wh"), ("temperature", "C")):
            if plug.get(key) is not None:
                rows.append(_row(apartment, room, "plug", key, plug[key], unit, ts))
    for room, contacts in (data.get("doorsWindows") or {}).items():
        for contact in contacts if isinstance(contacts, list) else [contacts]:
            kind = str(contact.get("type", "door")).lower()
            rows.append(_row(apartment, room, kind, "open", 1.0 if str(contact.get("switch")).lower() == "on" else 0.0,
                             "bool", ts))
            if contact.get("battery") is not None:
                rows.append(_row(apartment, room, kind, "battery", contact["battery"], "%", ts))
    for room, motion in (data.get("motions") or {}).items():
        for key, unit in (("motion", "bool"), ("light", "lux"), ("temperature", "C")):
            if motion.get(key) is not None:
                rows.append(_row(apartment, room, "motion", key, motion[key], unit, ts))
    meteos = data.get("meteos") or {}
    for room, station in (meteos.get("meteo", meteos) or {}).items():
        for key, (field, unit) in METEO.items():
            if station.get(key) is not None:
                rows.append(_row(apartment, room, "meteo", field, station[key], unit, ts))
    for room, sensor in (data.get("humidities") or {}).items():
        for key, field, unit in (("temperature", "temperature", "C"), ("humidity", "humidity", "%"),
                                 ("devicePower", "battery", "%")):
            if sensor.get(key) is not None:
                rows.append(_row(apartment, room, "humidity", field, sensor[key], unit, ts))
    for room, meter in (data.get("consumptions") or {}).items():
        for key in ("total_power", "power1", "power2", "power3", "current1", "current2", "current3",
                    "voltage1", "voltage2", "voltage3"):
            if meter.get(key) is not None:
                unit = "W" if "power" in key else "A" if "current" in key else "V"
                rows.append(_row(apartment, room, "consumption", key, meter[key], unit, ts))
    return rows


def _flatten_batch(paths: list[str]) -> tuple[list[str], list[dict]]:
    rows: list[dict] = []
    for path in paths:
        try:
            rows.extend(flatten(path))
        except Exception:  # the original counted and skipped failed files
            continue
    return paths, rows


def compress(paths: list[str], processed_log: Path) -> None:
    """The original's default after a batch is loaded: ``<file>.json.gz`` (level 6), the original removed, the
    names appended to ``processed.log``."""
    for path in paths:
        with open(path, "rb") as source, gzip.open(f"{path}.gz", "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target)
        os.remove(path)
    with open(processed_log, "a", encoding="utf-8") as log:
        log.writelines(f"{os.path.basename(path)}\n" for path in paths)


def _batches(paths: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(paths), size):
        yield paths[start:start + size]


def _completed(pool: ProcessPoolExecutor, batches: Iterator[list[str]], in_flight: int) -> Iterator[tuple]:
    """Parsed batches in the order they complete, with at most ``in_flight`` submitted at a time."""
    pending: set[Future] = set()
    for chunk in batches:
        pending.add(pool.submit(_flatten_batch, chunk))
        if len(pending) >= in_flight:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    for future in pending:
        yield future.result()


def load(conninfo: str, paths: list[str], bronze: Path, workers: int = 8, batch: int = 5000) -> tuple[int, float]:
    """Load files the original's way; returns the rows upserted and the seconds spent compressing."""
    total, compress_s = 0, 0.0
    with psycopg.connect(conninfo) as conn, ProcessPoolExecutor(max_workers=workers) as pool:
        for chunk, rows in _completed(pool, _batches(paths, batch), workers):
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
            writer.writerows(rows)
            buffer.seek(0)
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE _tmp_sensor_events (LIKE baseline.sensor_events "
                             "INCLUDING DEFAULTS) ON COMMIT DROP")
                with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                    copy.write(buffer.getvalue())
                conn.execute(
                    'INSERT INTO baseline.sensor_events (apartment, room, sensor_type, field, value, unit, "timestamp",'
                    " is_outlier) SELECT DISTINCT ON (apartment, room, sensor_type, field, \"timestamp\") apartment,"
                    ' room, sensor_type, field, value, unit, "timestamp", is_outlier FROM _tmp_sensor_events'
                    " ON CONFLICT (apartment, room, sensor_type, field, \"timestamp\") DO UPDATE SET"
                    " value = EXCLUDED.value, unit = EXCLUDED.unit, is_outlier = EXCLUDED.is_outlier")
            with conn.transaction(), conn.cursor() as cur:  # the watermark: a separate commit
                cur.executemany("INSERT INTO baseline.etl_watermark (filename) VALUES (%s) ON CONFLICT DO NOTHING",
                                [(os.path.basename(path),) for path in chunk])
            started = time.perf_counter()
            compress(chunk, bronze / "processed.log")
            compress_s += time.perf_counter() - started
            total += len(rows)
    return total, compress_s


def prepare(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DDL)

