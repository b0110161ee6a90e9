"""
### sensors_minutely: the last minute's sensor files, from the share to Silver

Every minute, for the minute that just ended (the run's data interval):

1. **wait_for_minute_files**: `PredictedFileSensor` predicts the exact file names, one per apartment active that
   day in the apartment registry (`silver.apartment_registry`, read once per run), and waits for them, deferred to the triggerer, at most `sensor_wait_seconds` (Variable, default 180 s) after
   the minute ended. Then it proceeds with the files that arrived; missing names are logged and pushed to
   XCom (`missing`). A missing minute never fails the run: `sensors_daily` reconciles it at night.
2. **copy_to_bronze**: copies the found files to `<domotic_bronze_root>/<apartment>/YYYY/MM/DD/HH/`.
3. **load_to_silver**: loads them into `silver.sensor_readings` (view `silver.sensor_events`) and
   `silver.file_manifest`, then emits the `silver_sensor_readings` asset with the loaded window in `extra`.
   Skipped when there is nothing new to load (no asset event, so Gold is not woken for nothing).

No DDL per run: the schema comes from the deploy step (`warehouse_migrate`); the tasks check its version.
No catchup: history and gaps are the job of `sensors_daily`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from domotic.sensors import tasks as sensor_pipeline
from domotic.settings import var_template
from domotic_airflow.assets import SILVER_SENSOR_READINGS
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout
from domotic_airflow.sensors import PredictedFileSensor


@dag(
    dag_id="sensors_minutely",
    description="Every minute (UTC): the active apartments' sensor files of the minute that just ended, to Silver",
    schedule=CronTriggerTimetable("* * * * *", timezone="UTC", interval=timedelta(minutes=1)),
    start_date=pendulum.datetime(2023, 8, 18, tz="UTC"),
    catchup=False,
    max_active_runs=5,
    dagrun_timeout=timedelta(minutes=10),
    tags=["sensors", "silver", "bronze"],
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=10)),
    owner_links=owner_links(),
    deadline=run_deadline("sensors_minutely", 5),
    doc_md=__doc__,
)
def sensors_minutely():
    found = PredictedFileSensor(
        task_id="wait_for_minute_files",
        folder=var_template("domotic_smb_path"),
        source_tz=var_template("domotic_source_tz"),
        wait_seconds=var_template("sensor_wait_seconds"),
        deferrable=True,  # waits in the triggerer (reschedule mode: deferrable=False)
        poke_interval=2,  # the trigger's stat interval: one stat per predicted file, bounds the latency
        timeout=timedelta(minutes=8),  # safety net only: the trigger's own deadline ends the wait first
        execution_timeout=task_timeout("minute_wait"),
    )

    @task(execution_timeout=task_timeout("minute_load"))
    def copy_to_bronze(names: list[str]) -> list[str]:
        return sensor_pipeline.copy_names(names)

    @task(outlets=[SILVER_SENSOR_READINGS], execution_timeout=task_timeout("minute_load"))
    def load_to_silver(bronze_paths: list[str], outlet_events=None) -> dict:
        stats = sensor_pipeline.load_paths(bronze_paths)
        if stats.window_start is None:
            raise AirflowSkipException("nothing new to load for this minute")
        outlet_events[SILVER_SENSOR_READINGS].extra = sensor_pipeline.asset_extra(stats)
        return stats.summary()

    copied = copy_to_bronze(found.output)
    load_to_silver(copied)


sensors_minutely()
