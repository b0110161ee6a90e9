"""
### gold_build: the Gold star schema from the Silver assets, incrementally, in one transaction

**Triggers** (`AssetOrTimeSchedule`): any update of `silver_sensor_readings`, `silver_weather` or
`silver_reference`, or daily at 00:00 UTC (the time fallback, which also makes the DAG backfillable).

**What it rebuilds** (`domotic.gold`, docs/gold.md): Gold's work ledger `silver.gold_ledger`, never only the
asset events (Airflow 3.3.2 can leave some undelivered, apache/airflow#56050). Every Silver writer records
its changed window there in the same transaction as the change; every run of this DAG, however it started
(asset event, schedule, manual trigger, `dags test`, backfill), claims **every pending change** inside its
build transaction and takes it out of the ledger when that commits (a failed or killed run leaves them pending):
- on top of that, a time-triggered or manual run with logical date **D** rebuilds the whole UTC day `[D, D+1)`,
  and a manual run may give `{"window_start": ..., "window_end": ...}` as conf;
- sensor windows rebuild the sensor facts of their minutes and the device health of their UTC days; weather
  windows the weather facts of their hours; a reference change refreshes the dimensions and all error counts.

      airflow dags test gold_build 2023-10-29                        # UTC day 2023-10-29 + everything pending
      airflow backfill create --dag-id gold_build \\
          --from-date 2023-08-18 --to-date 2023-10-27                 # one run per UTC day, 08-18 .. 10-27
      (add --reprocess-behavior completed to redo days that already ran)

**Tasks**: `create_gold_tables` (idempotent DDL, tariff seed, row-level security) -> `plan_windows` (the
run's own windows, the pending ledger changes, Valais holidays, every parameter the SQL binds) -> `build_gold`: the ledger claim and
every Gold template of `include/sql/gold/` in **one transaction** under an advisory lock, so BI never reads a
half-refreshed Gold and a failure leaves it (and the ledger) as it was -> quality gates
(`SQLColumnCheckOperator`, `SQLCheckOperator`); a failed gate fails the run -> `publish` emits
`gold_star_schema` with the windows the build recorded. `max_active_runs=1` plus the lock:
windows are never rebuilt twice in parallel. Re-running any run changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import (
    SQLCheckOperator,
    SQLColumnCheckOperator,
    SQLExecuteQueryOperator,
)
from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, TaskGroup, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from domotic import gold, gold_ledger
from domotic.config import POSTGRES_CONN_ID, history_start
from domotic.paths import SQL_DIR
from domotic_airflow.assets import GOLD_STAR_SCHEMA, SILVER_REFERENCE, SILVER_SENSOR_READINGS, SILVER_WEATHER
from domotic_airflow.dag_defaults import default_args, run_deadline

HISTORY_START = history_start()
# Quality gates look at the rows of the latest build's windows (gold.build_window).
SENSOR_WINDOW_ROWS = (
    "EXISTS (SELECT 1 FROM gold.build_window w WHERE w.scope = 'sensor' "
    "AND datetime_key >= w.key_start AND datetime_key < w.key_end)"
)
SENSOR_WINDOW_DAYS = (
    "EXISTS (SELECT 1 FROM gold.build_window w WHERE w.scope = 'sensor' "
    "AND date_key BETWEEN w.date_key_start AND w.date_key_end)"
)


def no_nulls(*columns: str) -> dict:
    return {column: {"null_check": {"equal_to": 0}} for column in columns}


def not_negative(*columns: str) -> dict:
    return {column: {"min": {"geq_to": 0}} for column in columns}


@dag(
    dag_id="gold_build",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=(SILVER_SENSOR_READINGS | SILVER_WEATHER | SILVER_REFERENCE),
    ),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    tags=["gold", "star-schema", "bi", "backfill"],
    default_args=default_args(),
    deadline=run_deadline("gold_build", 15),
    template_searchpath=[str(SQL_DIR)],
    doc_md=__doc__,
)
def gold_build():
    @task
    def plan_windows(triggering_asset_events=None, logical_date=None, dag_run=None) -> dict:
        """This run's own windows, the pending ledger changes it will claim, and every parameter the SQL binds."""
        from domotic.config import setting
        from domotic.db import warehouse_connection

        with warehouse_connection() as conn:
            pending = gold_ledger.pending(conn)
        plan = gold.plan_from_context(triggering_asset_events, logical_date, dag_run.conf if dag_run else None,
                                      pending, run_id=dag_run.run_id if dag_run else "manual")
        gold.log_plan(plan)
        if plan.is_empty:
            raise AirflowSkipException(f"nothing to rebuild ({plan.reason}; no pending ledger change)")
        return plan.parameters(setting("weather_sites").split(","))

    create_gold_tables = SQLExecuteQueryOperator(
        task_id="create_gold_tables",
        conn_id=POSTGRES_CONN_ID,
        sql=[*gold.SILVER_INPUT_DDL, *gold.GOLD_DDL],
    )

    plan = plan_windows()

    build_gold = SQLExecuteQueryOperator(
        task_id="build_gold",
        conn_id=POSTGRES_CONN_ID,
        sql=list(gold.BUILD_SQL),
        parameters=plan,
        autocommit=False,  # one transaction for every file: all of the build, or nothing
    )

    with TaskGroup("quality_gates") as quality_gates:
        SQLColumnCheckOperator(
            task_id="energy_columns",
            conn_id=POSTGRES_CONN_ID,
            table="gold.fact_energy_minute",
            partition_clause=SENSOR_WINDOW_ROWS,
            column_mapping={
                **no_nulls("datetime_key", "device_key", "date_key", "room_key", "apartment_key", "apartment_id"),
                **not_negative("energy_wh", "energy_kwh", "cost_chf"),
            },
        )
        SQLColumnCheckOperator(
            task_id="environment_columns",
            conn_id=POSTGRES_CONN_ID,
            table="gold.fact_environment_minute",
            partition_clause=SENSOR_WINDOW_ROWS,
            column_mapping=no_nulls("datetime_key", "room_key", "date_key", "apartment_key", "apartment_id",
                                    "is_anomaly"),
        )
        SQLColumnCheckOperator(
            task_id="presence_columns",
            conn_id=POSTGRES_CONN_ID,
            table="gold.fact_presence_minute",
            partition_clause=SENSOR_WINDOW_ROWS,
            column_mapping={**no_nulls("datetime_key", "room_key", "date_key", "apartment_key", "apartment_id"),
                            **not_negative("motion_count", "door_transition_count")},
        )
        SQLColumnCheckOperator(
            task_id="health_columns",
            conn_id=POSTGRES_CONN_ID,
            table="gold.fact_device_health_day",
            partition_clause=SENSOR_WINDOW_DAYS,
            column_mapping={**no_nulls("date_key", "device_key", "room_key", "apartment_key", "apartment_id"),
                            **not_negative("missing_readings", "reading_minutes"),
                            "uptime_pct": {"min": {"geq_to": 0}, "max": {"leq_to": 100}}},
        )
        SQLCheckOperator(task_id="flags_consistent", conn_id=POSTGRES_CONN_ID,
                         sql="gold/checks/flags_consistent.sql")
        SQLCheckOperator(task_id="minute_counts_match_silver", conn_id=POSTGRES_CONN_ID,
                         sql="gold/checks/minute_counts.sql")
        SQLCheckOperator(task_id="keys_resolve", conn_id=POSTGRES_CONN_ID,
                         sql="gold/checks/referential_integrity.sql")

    @task(outlets=[GOLD_STAR_SCHEMA])
    def publish(outlet_events=None) -> dict:
        """Announce the rebuilt windows (as the build recorded them) to Gold's consumers, after every gate."""
        from domotic.db import warehouse_connection

        with warehouse_connection() as conn:
            extra = gold.built_windows(conn)
        outlet_events[GOLD_STAR_SCHEMA].extra = extra
        return extra

    create_gold_tables >> plan >> build_gold >> quality_gates >> publish()


gold_build()
