"""
### sensors_daily: one UTC day of sensor files, reconciled from the share to Silver

One run = one UTC calendar day: the run with logical date **D** covers `[D 00:00, D+1 00:00)` UTC and starts
after that day has ended. It is both the nightly reconciliation (late files, minutes `sensors_minutely`
missed) and the backfill engine:

    airflow dags test sensors_daily 2023-09-14                      # loads 2023-09-14
    airflow backfill create --dag-id sensors_daily \
        --from-date 2023-08-18 --to-date 2023-10-27                 # loads every day from 08-18 to 10-27 inclusive
    (add --reprocess-behavior completed to redo days that already ran)

1. **copy_day_to_bronze** lists the share once, keeps that day's names (and quarantines names that do not
   parse), and copies to Bronze what it lacks; content the manifest already holds is skipped at once.
2. **load_day_to_silver** loads every file whose content the manifest has not loaded (same name, new content
   is reloaded; same content is skipped), in batches of one transaction each, and emits the
   `silver_sensor_readings` asset with the loaded window.

Re-running a day changes nothing. The first day comes from the `DOMOTIC_HISTORY_START` environment variable
(default 2023-08-18), so a deployment whose sources begin later does not queue years of empty days.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from domotic import sensor_pipeline
from domotic.config import POSTGRES_CONN_ID, catchup_enabled, history_start
from domotic.paths import SQL_DIR
from domotic.sensor_load import SILVER_SENSOR_DDL
from domotic_airflow.assets import SILVER_SENSOR_READINGS
from domotic_airflow.dag_defaults import default_args, run_deadline

HISTORY_START = history_start()


@dag(
    dag_id="sensors_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    catchup=catchup_enabled(),
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=2),
    tags=["sensors", "silver", "bronze", "backfill"],
    default_args=default_args(),
    deadline=run_deadline("sensors_daily", 60),
    template_searchpath=[str(SQL_DIR)],
    doc_md=__doc__,
)
def sensors_daily():
    create_silver_tables = SQLExecuteQueryOperator(
        task_id="create_silver_tables", conn_id=POSTGRES_CONN_ID, sql=list(SILVER_SENSOR_DDL), split_statements=True
    )

    @task
    def copy_day_to_bronze(logical_date=None) -> list[str]:
        # The logical date names the day (scheduled runs, `dags test D` and backfills alike); a manual
        # `dags test` infers a different data interval, so it is not used here.
        return sensor_pipeline.copy_day(logical_date.date())

    @task(outlets=[SILVER_SENSOR_READINGS])
    def load_day_to_silver(bronze_paths: list[str], outlet_events=None) -> dict:
        stats = sensor_pipeline.load_paths(bronze_paths)
        if stats.window_start is None:
            raise AirflowSkipException("nothing new to load for this day")
        outlet_events[SILVER_SENSOR_READINGS].extra = sensor_pipeline.asset_extra(stats)
        return stats.summary()

    copied = copy_day_to_bronze()
    create_silver_tables >> copied
    load_day_to_silver(copied)


sensors_daily()
