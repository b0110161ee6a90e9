"""Gold: the star schema BI and ML read, rebuilt incrementally from Silver.

Owns: the work ledger of Silver changes Gold has not absorbed (``ledger``), the plan of a build (``plan``:
windows, holidays, the parameters the SQL binds), running a build in one transaction (``build``: the files of
include/sql/gold/build/ in name order), the quality gates' configuration (``checks``) and the task bodies of
``gold_build`` (``tasks``). The names below are the package's public API.
"""

from domotic.gold.build import (
    BUILD_SQL,
    GOLD_TABLES,
    TENANT_TABLES,
    build,
    built_windows,
    read_sql,
)
from domotic.gold.plan import (
    LOOKBACK_MINUTES,
    BuildPlan,
    Window,
    day_window,
    event_windows,
    holiday_rows,
    log_plan,
    merge_windows,
    plan_for_day,
    plan_from_conf,
    plan_from_context,
)
from domotic.paths import SQL_DIR

__all__ = [
    "BUILD_SQL", "GOLD_TABLES", "LOOKBACK_MINUTES", "SQL_DIR", "TENANT_TABLES",
    "BuildPlan", "Window", "build", "built_windows", "day_window", "event_windows",
    "holiday_rows", "log_plan", "merge_windows", "plan_for_day", "plan_from_conf", "plan_from_context",
    "read_sql",
]
