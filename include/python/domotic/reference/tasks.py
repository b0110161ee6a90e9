"""The task body of ``mysql_snapshot_weekly``: the only module of the package that reads settings or opens
connections."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from domotic.airflow_adapter import mysql_connection, setting, warehouse_connection
from domotic.reference.snapshot import (
    ALLOW_LIST,
    BATCH_ROWS,
    MYSQL_INIT_COMMAND,
    SnapshotReport,
    TableSpec,
    begin_consistent_read,
    take_snapshot,
)
from domotic.settings import MYSQL_CONN_ID, POSTGRES_CONN_ID


def snapshot_pidb(run_id: str, now: datetime) -> dict:
    """Task body of ``mysql_snapshot_weekly.snapshot_pidb``: the snapshot, with the source clock of the settings;
    returns its summary (the asset event's extra)."""
    return run_snapshot(source_tz=setting("domotic_source_tz"), run_id=run_id, taken_at=now).summary()


def run_snapshot(mysql_conn_id: str = MYSQL_CONN_ID, postgres_conn_id: str = POSTGRES_CONN_ID,
                 source_tz: str = "UTC", batch_rows: int = BATCH_ROWS, run_id: str | None = None,
                 specs: Sequence[TableSpec] = ALLOW_LIST, taken_at: datetime | None = None) -> SnapshotReport:
    """Open the warehouse and pidb connections and take the snapshot (``snapshot.take_snapshot``)."""
    with contextlib.closing(warehouse_connection(postgres_conn_id)) as pg_conn, \
            contextlib.closing(mysql_connection(mysql_conn_id, init_command=MYSQL_INIT_COMMAND)) as mysql_conn:
        begin_consistent_read(mysql_conn)
        return take_snapshot(pg_conn, mysql_conn, source_tz=source_tz, batch_rows=batch_rows, run_id=run_id,
                             specs=specs, taken_at=taken_at)
