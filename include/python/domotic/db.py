"""Thin helpers over an open DB-API connection (the connection itself comes from ``domotic.airflow_adapter``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domotic.paths import SQL_DIR


def run_sql_files(conn: Any, names: Iterable[str]) -> None:
    """Execute .sql files from include/sql (relative names, e.g. ``silver/sensor_tables.sql``) and commit."""
    with conn.cursor() as cur:
        for name in names:
            cur.execute((SQL_DIR / name).read_text())
    conn.commit()
