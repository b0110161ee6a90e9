"""
### maintenance_vacuum: VACUUM (ANALYZE) of the big Silver and Gold tables

Sundays at 04:00 UTC. `list_big_tables` returns one `VACUUM (ANALYZE)` statement per big table that exists
(sensor readings, the manifests, the weather tables, every Gold fact), largest first; `vacuum_analyze` runs them
with autocommit (VACUUM cannot run in a transaction), taking its statements as an explicit input. Plain VACUUM
blocks neither readers nor writers; `VACUUM FULL` is never used. No catch-up. Code:
`domotic.maintenance.tasks` -> `vacuum`. Runbook: docs/maintenance.md.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import CronTriggerTimetable, dag, task

from domotic.maintenance import tasks as maintenance
from domotic.settings import POSTGRES_CONN_ID
from domotic_airflow.dag_defaults import (
    default_args,
    maintenance_start,
    owner_links,
    run_deadline,
    task_timeout,
)


@dag(
    dag_id="maintenance_vacuum",
    description="Sundays 04:00 UTC: VACUUM (ANALYZE) of the big Silver and Gold tables",
    schedule=CronTriggerTimetable("0 4 * * 0", timezone="UTC"),
    start_date=maintenance_start(),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    tags=["maintenance", "postgres"],
    default_args=default_args(),
    owner_links=owner_links(),
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
        execution_timeout=task_timeout("vacuum"),
    )


maintenance_vacuum()
