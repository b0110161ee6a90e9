"""
### mysql_snapshot_weekly: weekly snapshot of the MySQL reference database ("pidb") into Silver

Reads, through `MySqlHook` on connection `pidb_mysql`, only the allow-listed tables and columns of
`domotic.reference.snapshot.ALLOW_LIST` (buildings, building types, rooms, sensors, devices, energy profiles,
power snapshots, parameters, parameter types, sensor errors). Personal-data tables (`users`, `actions`,
`events`, ...) are never queried, and personal columns (names, e-mail, phone, address, GPS) never leave MySQL.

Writes, on connection `domotic_postgres`, typed copies with their primary keys: `silver.dim_buildings`,
`dim_building_types`, `dim_rooms`, `dim_sensors`, `dim_devices`, `ref_energy_profiles`, `ref_power_snapshots`,
`ref_parameters`, `ref_parameters_type`, `log_sensor_errors`; the cleaned companion `silver.di_errors_clean`;
and one row per table and run in `silver.mysql_snapshot_log` (when taken, row counts, status).

All tables are read in one consistent MySQL snapshot, built beside the live ones (`silver.<table>__next`) and
swapped in one transaction: readers never see a missing, empty or half-loaded table. If a source table is
missing, unreadable or suddenly empty, nothing is swapped, the previous snapshot stays, and the task fails
naming the table. Upstream columns that are not on the allow-list are skipped and logged by name.

Schedule: Mondays 03:00 UTC. A fresh install triggers one run by hand (`airflow dags trigger
mysql_snapshot_weekly`); there is nothing to backfill, since each run copies the current state of pidb.
On success the run updates the `silver_reference` asset, so Gold refreshes the dimensions built on it.
See docs/mysql-snapshot.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from domotic.reference import tasks as reference_tasks
from domotic_airflow.assets import SILVER_REFERENCE
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout


@dag(
    dag_id="mysql_snapshot_weekly",
    description="Mondays 03:00 UTC: allow-listed, typed, all-or-nothing snapshot of the pidb reference tables",
    schedule=CronTriggerTimetable("0 3 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2023, 8, 14, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["silver", "mysql", "reference", "weekly"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("mysql_snapshot_weekly", 60),
    doc_md=__doc__,
)
def mysql_snapshot_weekly() -> None:
    @task(outlets=[SILVER_REFERENCE], execution_timeout=task_timeout("snapshot"))
    def snapshot_pidb(**context) -> dict:
        """Copy the allow-listed pidb tables into Silver and swap them in (all or nothing)."""
        summary = reference_tasks.snapshot_pidb(context["run_id"], now=pendulum.now("UTC"))
        context["outlet_events"][SILVER_REFERENCE].extra = summary
        return summary

    snapshot_pidb()


mysql_snapshot_weekly()
