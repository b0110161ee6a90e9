"""The task bodies of ``gold_build``: the only module of the package that reads settings or opens connections."""

from __future__ import annotations

from typing import Any

from domotic.airflow_adapter import setting, warehouse_connection
from domotic.gold import ledger
from domotic.gold.build import built_windows
from domotic.gold.plan import log_plan, plan_from_context


class NothingToBuild(Exception):
    """No window of the run's own and no pending change: the DAG skips the build."""


def plan_windows(triggering_asset_events: Any, logical_date: Any, dag_run: Any) -> dict[str, Any]:
    """This run's own windows, the pending ledger changes it will claim, and every parameter the SQL binds."""
    with warehouse_connection() as conn:
        pending = ledger.pending(conn)
    plan = plan_from_context(triggering_asset_events, logical_date, dag_run.conf if dag_run else None, pending,
                             run_id=dag_run.run_id if dag_run else "manual")
    log_plan(plan)
    if plan.is_empty:
        raise NothingToBuild(f"nothing to rebuild ({plan.reason}; no pending ledger change)")
    return plan.parameters(setting("weather_sites").split(","))


def published_windows() -> dict[str, Any]:
    """What ``publish`` announces: the windows the build recorded in gold.build_window."""
    with warehouse_connection() as conn:
        return built_windows(conn)
