"""Thin helpers over a DB-API connection obtained from an Airflow hook (never a hand-made client)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domotic.paths import SQL_DIR


def warehouse_connection(conn_id: str | None = None) -> Any:
    """A psycopg 3 connection to the warehouse through ``PostgresHook`` (Airflow Connection)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from domotic.config import POSTGRES_CONN_ID

    return PostgresHook(postgres_conn_id=conn_id or POSTGRES_CONN_ID).get_conn()


def run_sql_files(conn: Any, names: Iterable[str]) -> None:
    """Execute .sql files from include/sql (relative names, e.g. ``silver/sensor_tables.sql``) and commit."""
    with conn.cursor() as cur:
        for name in names:
            cur.execute((SQL_DIR / name).read_text())
    conn.commit()
