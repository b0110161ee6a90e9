"""The task body of ``warehouse_migrate`` (and of ``python -m domotic.warehouse migrate``): the only module of
the package that opens connections."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from domotic.airflow_adapter import warehouse_connection
from domotic.settings import POSTGRES_CONN_ID
from domotic.warehouse import migrations

log = logging.getLogger(__name__)


def migrate(conn_id: str = POSTGRES_CONN_ID) -> dict[str, Any]:
    """Bring the warehouse to the code's schema version (a deploy step; idempotent)."""
    with contextlib.closing(warehouse_connection(conn_id, check_schema=False)) as conn:
        result = migrations.apply(conn)
    log.info("warehouse schema: version %s -> %s; applied %s; repeatable scripts %s", result["from"],
             result["to"], result["applied"] or "none", result["repeatable"])
    return result


def status(conn_id: str = POSTGRES_CONN_ID) -> dict[str, int]:
    with contextlib.closing(warehouse_connection(conn_id, check_schema=False)) as conn:
        return {"current": migrations.current_version(conn), "latest": migrations.latest_version()}
