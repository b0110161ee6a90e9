"""
### sensors_daily: one UTC day of sensor files, reconciled from the share to Silver

One run = one UTC calendar day: the run with logical date **D** covers `[D 00:00, D+1 00:00)` UTC and starts
after that day has ended. It is both the nightly reconciliation (late files, minutes `sensors_minutely`
missed) and the backfill engine:

    airflow dags test sensors_daily 2023-09-14                      # loads 2023-09-14
    airflow backfill create --dag-id sensors_daily \
        --from-date 2023-08-18 --to-date 2023-10-27                 # loads every day from 08-18 to 10-27 inclusive
    (add --reprocess-behavior completed to redo days that already ran)

1. **reconcile_day** lists the share once and keeps that day's names (plus names that do not parse, to be
   quarantined), split into chunks of whole hours of at most `sensor_chunk_files` files (Variable, default
   20,000: two apartments' day is one chunk, a thousand apartments' day one chunk per hour). A day that is
   **one chunk is loaded right there**: one task instance per day, what a history backfill pays for.
2. **ingest_chunk** (dynamically mapped, one task per chunk of a bigger day; skipped when the day was one
   chunk) loads the chunks in parallel on as many workers as the deployment has.

Loading (either task, in the `DOMOTIC_LOAD_POOL` pool) copies to Bronze what it lacks (content the manifest
already holds is skipped at once) and loads every file whose content the manifest has not loaded (same name,
new content is reloaded), in batches of one transaction each, then emits the `silver_sensor_readings` asset
with the window it loaded; nothing new loaded, no event, so Gold is not woken for nothing (the windows are
also in Gold's work ledger). `reconcile_day` emits through the `silver_sensor_loads` alias, so a day it only
lists emits nothing; its load summary is its XCom `loaded`.

Re-running a day changes nothing. The first day comes from the `DOMOTIC_HISTORY_START` environment variable
(default 2023-08-18), so a deployment whose sources begin later does not queue years of empty days.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from domotic.sensors import tasks as sensor_pipeline
from domotic.settings import catchup_enabled, env, history_start
from domotic_airflow.assets import SILVER_SENSOR_LOADS, SILVER_SENSOR_READINGS
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout

HISTORY_START = history_start()
# Pool of the loading tasks: create one (e.g. `airflow pools set warehouse 4 "Silver loads"`) to cap the
# concurrent loads a warehouse takes, and set DOMOTIC_LOAD_POOL=warehouse.
LOAD_POOL = env("DOMOTIC_LOAD_POOL")


@dag(
    dag_id="sensors_daily",
    description="Daily 00:00 UTC, one UTC day per run: reconcile the share with Bronze and Silver (backfill engine)",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(HISTORY_START.year, HISTORY_START.month, HISTORY_START.day, tz="UTC"),
    catchup=catchup_enabled(),
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=2),
    tags=["sensors", "silver", "bronze", "backfill"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("sensors_daily", 60),
    doc_md=__doc__,
)
def sensors_daily():

    @task(pool=LOAD_POOL, outlets=[SILVER_SENSOR_LOADS], execution_timeout=task_timeout("sensor_chunk"))
    def reconcile_day(logical_date=None, outlet_events=None, ti=None) -> list[list[str]]:
        # The logical date names the day (scheduled runs, `dags test D` and backfills alike); a manual
        # `dags test` infers a different data interval, so it is not used here.
        loaded, chunks = sensor_pipeline.reconcile_day(logical_date.date())
        if loaded is not None:
            ti.xcom_push(key="loaded", value=loaded)
            if loaded["window_start"] is not None:
                outlet_events[SILVER_SENSOR_LOADS].add(SILVER_SENSOR_READINGS,
                                                       extra=sensor_pipeline.asset_extra(loaded))
        return chunks

    @task(pool=LOAD_POOL, outlets=[SILVER_SENSOR_READINGS], execution_timeout=task_timeout("sensor_chunk"))
    def ingest_chunk(names: list[str], outlet_events=None) -> dict:
        summary = sensor_pipeline.ingest_chunk(names)
        if summary["window_start"] is None:
            raise AirflowSkipException("nothing new was loaded for this chunk")
        outlet_events[SILVER_SENSOR_READINGS].extra = sensor_pipeline.asset_extra(summary)
        return summary

    ingest_chunk.expand(names=reconcile_day())


sensors_daily()
