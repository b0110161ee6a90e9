"""
### maintenance_bronze_compaction: pack old Bronze days into verified archives; gzip old weather files

Daily at 03:00 UTC. `compact_sensor_days` packs each sensor apartment-day older than `bronze_retention_days`
(Variable, default 30; negative: never) into `<bronze_root>/<apartment>/YYYY/MM/DD.tar.gz`: written under a
temporary name, read back and verified member by member (sha256), renamed, and only then are the loose files
removed (each one only if it equals its member). Days holding a file Silver never loaded, or a file younger than
`bronze_compaction_settle_hours`, are left for a later run (and alerted). `compress_weather_files` gzips weather
CSVs older than the retention to `<name>.gz` (the weather loader reads both forms).

An archived day stays replayable: `sensors_daily` restores it when the share no longer holds the day
(`domotic.sensors.replay`). No catch-up: maintenance is about *now*; `airflow dags test
maintenance_bronze_compaction` runs it by hand. Code: `domotic.maintenance.tasks` -> `compaction`,
`weather_files`. Runbook: docs/maintenance.md, docs/runbook.md §6.4.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from domotic.maintenance import tasks as maintenance
from domotic_airflow.dag_defaults import (
    default_args,
    maintenance_start,
    owner_links,
    run_deadline,
    task_timeout,
)


@dag(
    dag_id="maintenance_bronze_compaction",
    description="Daily 03:00 UTC: pack Bronze days older than the retention into verified archives; gzip old weather files",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    start_date=maintenance_start(),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "bronze"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("maintenance_bronze_compaction", 180),
    doc_md=__doc__,
)
def maintenance_bronze_compaction():
    @task(execution_timeout=task_timeout("compaction"))
    def compact_sensor_days(logical_date=None) -> dict:
        return maintenance.run_compact_sensor_days(logical_date, now=pendulum.now("UTC"))

    @task(execution_timeout=task_timeout("compaction"))
    def compress_weather_files(logical_date=None) -> dict:
        return maintenance.run_compress_weather(logical_date, now=pendulum.now("UTC"))

    compact_sensor_days()
    compress_weather_files()


maintenance_bronze_compaction()
