"""
### Maintenance: Bronze compaction, VACUUM ANALYZE, warehouse backups, disk-usage report

Four DAGs, one per job, so each has its own schedule, Deadline Alert and failure alert (every task alerts
after its last retry through `default_args()`). None catches up: maintenance is about *now*.

| DAG | schedule (UTC) | what |
|---|---|---|
| `maintenance_bronze_compaction` | daily 03:00 | packs each sensor apartment-day older than `bronze_retention_days` (default 30) into `<bronze_root>/<apartment>/YYYY/MM/DD.tar.gz`, verified before the loose files go; gzips old weather CSVs to `<name>.gz` |
| `maintenance_vacuum` | Sundays 04:00 | `VACUUM (ANALYZE)` of the big Silver and Gold tables that exist |
| `maintenance_backup` | daily 02:00 | `pg_dump -Fc` of `domotic_postgres` into `backup_dir/domotic_YYYYMMDD.dump`, then deletes dumps older than `backup_retention_days` (default 14) |
| `maintenance_disk_report` | daily 05:00 | sizes of Bronze (per apartment, weather; archives vs loose files), backups and the largest tables (XCom + log); fails (alert) when the Bronze filesystem has less than `disk_free_min_gb` free |

Each task body is one call into `domotic.maintenance.tasks`. An archived day stays replayable:
`domotic.sensors.replay.archived_day_paths` / `replay_archived_day` (and `restore_archived_day` for
`sensors_daily`). Run one by hand with `airflow dags test <dag_id>`. Details and the runbook:
`docs/maintenance.md`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import CronTriggerTimetable, dag, task

from domotic.maintenance import tasks as maintenance
from domotic.settings import POSTGRES_CONN_ID, history_start
from domotic_airflow.dag_defaults import default_args, run_deadline

# Same first day as the data DAGs (DOMOTIC_HISTORY_START); catchup is off, so no past run is ever queued.
_FIRST = history_start()
START = pendulum.datetime(_FIRST.year, _FIRST.month, _FIRST.day, tz="UTC")


@dag(
    dag_id="maintenance_bronze_compaction",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "bronze"],
    default_args=default_args(),
    deadline=run_deadline("maintenance_bronze_compaction", 180),
    doc_md=__doc__,
)
def maintenance_bronze_compaction():
    @task
    def compact_sensor_days(logical_date=None) -> dict:
        return maintenance.run_compact_sensor_days(logical_date, now=pendulum.now("UTC"))

    @task
    def compress_weather_files(logical_date=None) -> dict:
        return maintenance.run_compress_weather(logical_date, now=pendulum.now("UTC"))

    compact_sensor_days()
    compress_weather_files()


@dag(
    dag_id="maintenance_vacuum",
    schedule=CronTriggerTimetable("0 4 * * 0", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "postgres"],
    default_args=default_args(),
    deadline=run_deadline("maintenance_vacuum", 240),
    doc_md=__doc__,
)
def maintenance_vacuum():
    @task
    def list_big_tables() -> list[str]:
        return maintenance.run_list_big_tables()

    # The statements come in explicitly as this task's input: renaming list_big_tables cannot leave it
    # silently vacuuming nothing.
    SQLExecuteQueryOperator(
        task_id="vacuum_analyze",
        conn_id=POSTGRES_CONN_ID,
        sql=list_big_tables(),
        autocommit=True,  # VACUUM cannot run inside a transaction block
        return_last=False,
        show_return_value_in_logs=False,
    )


@dag(
    dag_id="maintenance_backup",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "postgres", "backup"],
    default_args=default_args(),
    deadline=run_deadline("maintenance_backup", 120),
    doc_md=__doc__,
)
def maintenance_backup():
    @task
    def dump_warehouse(logical_date=None) -> dict:
        return maintenance.run_backup(logical_date, now=pendulum.now("UTC"))

    @task
    def prune_old_backups(logical_date=None) -> list[str]:
        return maintenance.run_prune_backups(logical_date, now=pendulum.now("UTC"))

    dump_warehouse() >> prune_old_backups()  # old dumps go only once today's is safely written


@dag(
    dag_id="maintenance_disk_report",
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=["maintenance", "monitoring"],
    default_args=default_args(),
    deadline=run_deadline("maintenance_disk_report", 30),
    doc_md=__doc__,
)
def maintenance_disk_report():
    @task
    def measure_disk_usage() -> dict:
        return maintenance.run_disk_report(now=pendulum.now("UTC"))

    @task
    def check_free_space(report: dict) -> dict:
        return maintenance.run_check_free_space(report)

    check_free_space(measure_disk_usage())


maintenance_bronze_compaction()
maintenance_vacuum()
maintenance_backup()
maintenance_disk_report()
