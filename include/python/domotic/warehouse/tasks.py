"""The task body of ``warehouse_migrate`` (and of ``python -m domotic.warehouse migrate``): the only module of
the package that opens connections."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from typing import Any

from domotic.airflow_adapter import warehouse_connection
from domotic.settings import POSTGRES_CONN_ID
from domotic.warehouse import migrations, tenants

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


def onboard_apartment(handle: str, active_from: date, *, conn_id: str | None = None, **details: Any) -> dict:
    """``python -m domotic.warehouse.tenants onboard``: register an apartment and map its owner's role."""
    with contextlib.closing(warehouse_connection(conn_id or POSTGRES_CONN_ID)) as conn:
        conn.autocommit = True
        result = tenants.onboard(conn, handle, active_from, **details)
    log.info("apartment %s (%s) %s; role %s", result["apartment_id"], handle, result["action"], result["role"])
    return result


def import_apartments(registrations: list[tenants.Registration], *, conn_id: str | None = None) -> dict:
    """``python -m domotic.warehouse.tenants import``: onboard many apartments in one transaction."""
    with contextlib.closing(warehouse_connection(conn_id or POSTGRES_CONN_ID)) as conn:
        conn.autocommit = True
        done, created = tenants.onboard_many(conn, registrations)
    log.info("imported %d apartments (%d roles created)", len(done), created)
    return {"apartments": done, "roles_created": created}


def offboard_apartment(apartment_id: str, active_to: date, *, conn_id: str | None = None) -> dict:
    """``python -m domotic.warehouse.tenants offboard``: end an apartment and revoke its owner's access."""
    with contextlib.closing(warehouse_connection(conn_id or POSTGRES_CONN_ID)) as conn:
        conn.autocommit = True
        result = tenants.offboard(conn, apartment_id, active_to)
    log.info("apartment %s offboarded (last day %s); revoked %s", apartment_id, active_to, result["revoked"])
    return result


def list_apartments(*, conn_id: str | None = None) -> list[dict]:
    """``python -m domotic.warehouse.tenants list``: the registry."""
    with contextlib.closing(warehouse_connection(conn_id or POSTGRES_CONN_ID)) as conn:
        return [vars(row) for row in tenants.registered(conn)]
