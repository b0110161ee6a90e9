"""Gold's build: the SQL files of one build, in run order, and running them in one transaction.

Every build runs ``BUILD_SQL`` (include/sql/gold/build/, sorted by name) in one transaction (``build`` here,
one ``SQLExecuteQueryOperator`` in the DAG): claim the ledger's pending changes, prepare the windows, the
dimensions, then each fact rebuilds the window's rows (upsert of what Silver yields, delete of what it no
longer yields), so a re-run changes nothing and readers never see a half-built Gold. See docs/gold.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from domotic.gold.plan import Window
from domotic.paths import SQL_DIR

# ------------------------------------------------------------------------------------------- SQL files

# The files of one build, in run order: the folder include/sql/gold/build/ sorted by name (NN_<what>.sql; the
# numbers leave gaps so a step can be added without renaming). Each holds exactly one statement (bound
# parameters allow no more). 0x: claim the work and prepare the temp tables; 1x: dimensions; 2x: the series
# map; 3x: facts; 9x: record what was built.
BUILD_SQL: tuple[str, ...] = tuple(
    f"gold/build/{path.name}" for path in sorted((SQL_DIR / "gold" / "build").glob("*.sql")))

# Gold tables with BI data (build_window is build metadata, tenant_membership security configuration).
GOLD_TABLES: tuple[str, ...] = (
    "dim_date",
    "dim_datetime",
    "dim_weather_site",
    "dim_apartment",
    "dim_room",
    "dim_device",
    "dim_tariff",
    "fact_energy_minute",
    "fact_environment_minute",
    "fact_presence_minute",
    "fact_device_health_day",
    "fact_weather_hour",
    "fact_weather_hour_revision",
    "fact_ml_predictions",
)
# Tables holding one apartment's data: every one carries the natural key apartment_id under RLS.
TENANT_TABLES: tuple[str, ...] = (
    "dim_apartment",
    "dim_room",
    "dim_device",
    "fact_energy_minute",
    "fact_environment_minute",
    "fact_presence_minute",
    "fact_device_health_day",
    "fact_ml_predictions",
)

# ------------------------------------------------------------------------------------------- running


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def build(conn: Any, parameters: Mapping[str, Any], statements: Sequence[str] = BUILD_SQL) -> list[tuple[str, float]]:
    """Run one Gold build on ``conn`` in one transaction (as the DAG's build task does); returns timings.

    Committed only when every statement succeeded; on any error the transaction is rolled back and the
    exception propagates, leaving Gold exactly as it was.
    """
    timings: list[tuple[str, float]] = []
    try:
        with conn.cursor() as cur:
            for name in statements:
                started = time.perf_counter()
                try:
                    cur.execute(read_sql(name), dict(parameters))
                except Exception as exc:
                    exc.add_note(f"in Gold build statement include/sql/{name} (the build was rolled back)")
                    raise
                timings.append((name, time.perf_counter() - started))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return timings


def built_windows(conn: Any) -> dict[str, Any]:
    """The GOLD_STAR_SCHEMA event extra: the windows the latest build rebuilt, as it recorded them in
    gold.build_window (ledger changes included), overall bounds first for simple consumers."""
    with conn.cursor() as cur:
        cur.execute("SELECT scope, window_start, window_end FROM gold.build_window ORDER BY scope, window_start")
        rows = cur.fetchall()
    conn.commit()
    windows = {scope: [Window(ws.astimezone(UTC), we.astimezone(UTC)) for sc, ws, we in rows if sc == scope]
               for scope in ("sensor", "weather")}
    extra: dict[str, Any] = {f"{scope}_windows": [w.as_json() for w in found] for scope, found in windows.items()}
    every = [*windows["sensor"], *windows["weather"]]
    if every:
        extra["window_start"] = min(w.start for w in every).isoformat()
        extra["window_end"] = max(w.end for w in every).isoformat()
    return extra
