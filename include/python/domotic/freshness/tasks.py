"""The task bodies of ``data_freshness``: the only module of the package that reads settings or opens
connections."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domotic.airflow_adapter import setting, warehouse_connection
from domotic.freshness.checks import GoldCoverageError, StaleDataError, check, gold_coverage

log = logging.getLogger(__name__)


def run_check(now: datetime) -> dict[str, Any]:
    """Task body of ``data_freshness`` (settings and the connection are read at run time)."""
    max_lag = timedelta(minutes=setting("freshness_max_lag_minutes"))
    with warehouse_connection() as conn:
        result = check(conn, Path(setting("domotic_smb_path")), now, max_lag,
                       setting("domotic_source_tz"))
    if result.stale:
        raise StaleDataError(f"Silver is stale: {result.describe()}")
    log.info("freshness: %s", result.describe())
    return result.as_dict()


def run_gold_coverage_check(now: datetime) -> dict[str, Any]:
    """Task body of ``data_freshness.check_gold_coverage``: raises ``GoldCoverageError`` naming the days."""
    max_age = timedelta(minutes=setting("gold_max_pending_minutes"))
    with warehouse_connection() as conn:
        result = gold_coverage(conn, now, max_age)
    if result.lost or result.stuck:
        raise GoldCoverageError(f"Gold is missing Silver data: {result.describe()}")
    log.info("gold coverage: %s", result.describe())
    return result.as_dict()
