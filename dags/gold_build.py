"""
### gold_build: the Gold star schema from the Silver assets, incrementally, in one transaction

**Triggers** (`AssetOrTimeSchedule`): any update of `silver_sensor_readings`, `silver_weather`,
`silver_reference` or `ml_predictions` (new forecasts: `presence_prob`), or daily at 00:00 UTC (the time fallback, which also makes the DAG backfillable).

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

**Tasks**: `plan_windows` (checks the warehouse schema version, then the
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

from domotic import gold
from domotic.gold import checks
from domotic.gold import tasks as gold_tasks
from domotic.paths import SQL_DIR
from domotic.settings import POSTGRES_CONN_ID, history_start
from domotic_airflow.assets import (
    GOLD_STAR_SCHEMA,
    ML_PREDICTIONS,
    SILVER_REFERENCE,
    SILVER_SENSOR_READINGS,
    SILVER_WEATHER,
)
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout

HISTORY_START = history_start()


@dag(
    dag_id="gold_build",
    description="On each Silver update (asset events) or daily 00:00 UTC: claim Gold's work ledger, rebuild, check",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=(SILVER_SENSOR_READINGS | SILVER_WEATHER | SILVER_REFERENCE | ML_PREDICTIONS),
    ),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    tags=["gold", "star-schema", "bi", "backfill"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("gold_build", 15),
    template_searchpath=[str(SQL_DIR)],
    doc_md=__doc__,
)
def gold_build():
    @task
    def plan_windows(triggering_asset_events=None, logical_date=None, dag_run=None) -> dict:
        """This run's own windows, the pending ledger changes it will claim, and every parameter the SQL binds."""
        try:
            return gold_tasks.plan_windows(triggering_asset_events, logical_date, dag_run)
        except gold_tasks.NothingToBuild as nothing:
            raise AirflowSkipException(str(nothing)) from None

    plan = plan_windows()

    build_gold = SQLExecuteQueryOperator(
        task_id="build_gold",
        conn_id=POSTGRES_CONN_ID,
        sql=list(gold.BUILD_SQL),  # include/sql/gold/build/*.sql in name order
        parameters=plan,
        autocommit=False,  # one transaction for every file: all of the build, or nothing
        execution_timeout=task_timeout("gold_build"),
    )

    with TaskGroup("quality_gates") as quality_gates:
        for task_id, check in checks.COLUMN_CHECKS.items():
            SQLColumnCheckOperator(task_id=task_id, conn_id=POSTGRES_CONN_ID, table=check.table,
                                   partition_clause=check.partition_clause, column_mapping=check.column_mapping,
                                   execution_timeout=task_timeout("quality_gate"))
        for task_id, sql_file in checks.SQL_CHECKS.items():
            SQLCheckOperator(task_id=task_id, conn_id=POSTGRES_CONN_ID, sql=sql_file,
                             execution_timeout=task_timeout("quality_gate"))

    @task(outlets=[GOLD_STAR_SCHEMA])
    def publish(outlet_events=None) -> dict:
        """Announce the rebuilt windows (as the build recorded them) to Gold's consumers, after every gate."""
        extra = gold_tasks.published_windows()
        outlet_events[GOLD_STAR_SCHEMA].extra = extra
        return extra

    plan >> build_gold >> quality_gates >> publish()


gold_build()
