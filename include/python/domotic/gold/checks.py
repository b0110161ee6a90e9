"""Gold's quality gates as configuration: which columns of which fact must hold what, over which rows.

``gold_build`` runs one ``SQLColumnCheckOperator`` per entry of ``COLUMN_CHECKS`` and one ``SQLCheckOperator`` per
file of ``SQL_CHECKS`` after every build. Each gate looks only at the rows of the latest build's windows
(``gold.build_window``, written by the build's last step), so its cost follows the window, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The rows of the latest build's sensor windows: minute facts by datetime key, day facts by date key.
SENSOR_WINDOW_ROWS = (
    "EXISTS (SELECT 1 FROM gold.build_window w WHERE w.scope = 'sensor' "
    "AND datetime_key >= w.key_start AND datetime_key < w.key_end)"
)
SENSOR_WINDOW_DAYS = (
    "EXISTS (SELECT 1 FROM gold.build_window w WHERE w.scope = 'sensor' "
    "AND date_key BETWEEN w.date_key_start AND w.date_key_end)"
)


def no_nulls(*columns: str) -> dict[str, Any]:
    return {column: {"null_check": {"equal_to": 0}} for column in columns}


def not_negative(*columns: str) -> dict[str, Any]:
    return {column: {"min": {"geq_to": 0}} for column in columns}


@dataclass(frozen=True)
class ColumnCheck:
    table: str
    partition_clause: str
    column_mapping: dict[str, Any]


COLUMN_CHECKS: dict[str, ColumnCheck] = {
    "energy_columns": ColumnCheck(
        "gold.fact_energy_minute", SENSOR_WINDOW_ROWS,
        {**no_nulls("datetime_key", "device_key", "date_key", "room_key", "apartment_key", "apartment_id"),
         **not_negative("energy_wh", "energy_kwh", "cost_chf")}),
    "environment_columns": ColumnCheck(
        "gold.fact_environment_minute", SENSOR_WINDOW_ROWS,
        no_nulls("datetime_key", "room_key", "date_key", "apartment_key", "apartment_id", "is_anomaly")),
    "presence_columns": ColumnCheck(
        "gold.fact_presence_minute", SENSOR_WINDOW_ROWS,
        {**no_nulls("datetime_key", "room_key", "date_key", "apartment_key", "apartment_id"),
         **not_negative("motion_count", "door_transition_count")}),
    "health_columns": ColumnCheck(
        "gold.fact_device_health_day", SENSOR_WINDOW_DAYS,
        {**no_nulls("date_key", "device_key", "room_key", "apartment_key", "apartment_id"),
         **not_negative("missing_readings", "reading_minutes"),
         "uptime_pct": {"min": {"geq_to": 0}, "max": {"leq_to": 100}}}),
}

# Cross-table checks, one SQL file each (include/sql/gold/checks/): a row returned with a false value fails.
SQL_CHECKS: dict[str, str] = {
    "flags_consistent": "gold/checks/flags_consistent.sql",
    "minute_counts_match_silver": "gold/checks/minute_counts.sql",
    "keys_resolve": "gold/checks/referential_integrity.sql",
}
