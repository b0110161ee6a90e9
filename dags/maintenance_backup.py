"""
### maintenance_backup: nightly pg_dump of the warehouse, then retention

Daily at 02:00 UTC. `dump_warehouse` writes `pg_dump -Fc` of the `domotic_postgres` connection to
`backup_dir/domotic_YYYYMMDD.dump` (temporary name, fsync, rename; checked readable with `pg_restore --list`);
the password goes through `PGPASSWORD`, never the command line. `prune_old_backups` then deletes dumps older
than `backup_retention_days` (default 14), never the newest one, and only after today's dump is safely
written. No catch-up. Restore drill: docs/runbook.md. Code: `domotic.maintenance.tasks` -> `backup`.
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
    dag_id="maintenance_backup",
    description="Daily 02:00 UTC: pg_dump of the warehouse into backup_dir, then delete dumps past the retention",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=maintenance_start(),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "postgres", "backup"],
    default_args=default_args(),
    owner_links=owner_links(),
    deadline=run_deadline("maintenance_backup", 120),
    doc_md=__doc__,
)
def maintenance_backup():
    @task(execution_timeout=task_timeout("backup"))
    def dump_warehouse(logical_date=None) -> dict:
        return maintenance.run_backup(logical_date, now=pendulum.now("UTC"))

    @task
    def prune_old_backups(logical_date=None) -> list[str]:
        return maintenance.run_prune_backups(logical_date, now=pendulum.now("UTC"))

    dump_warehouse() >> prune_old_backups()  # old dumps go only once today's is safely written


maintenance_backup()
