"""
### maintenance_disk_report: how much space Bronze, backups and tables take, and an alert when it runs out

Daily at 05:00 UTC. `measure_disk_usage` reports the sizes of Bronze (per apartment and weather; archives vs
loose files), the backups and the largest warehouse tables (XCom and log); `check_free_space` fails (and
alerts) when the Bronze filesystem has less than `disk_free_min_gb` (default 5) free. No catch-up. Code:
`domotic.maintenance.tasks` -> `disk`. Runbook: docs/maintenance.md.
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
    dag_id="maintenance_disk_report",
    description="Daily 05:00 UTC: disk usage of Bronze, backups and tables; alert below disk_free_min_gb free",
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    start_date=maintenance_start(),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=["maintenance", "monitoring"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("maintenance_disk_report", 30),
    doc_md=__doc__,
)
def maintenance_disk_report():
    @task(execution_timeout=task_timeout("disk_report"))
    def measure_disk_usage() -> dict:
        return maintenance.run_disk_report(now=pendulum.now("UTC"))

    @task(execution_timeout=task_timeout("disk_report"))
    def check_free_space(report: dict) -> dict:
        return maintenance.run_check_free_space(report)

    check_free_space(measure_disk_usage())


maintenance_disk_report()
