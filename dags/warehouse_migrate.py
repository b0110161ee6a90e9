"""
### warehouse_migrate: bring the warehouse schema to this code's version (a deploy step)

Applies the numbered migrations of `include/sql/migrations/` that the warehouse lacks, each once, in its own
transaction, recorded in `ops.schema_migrations`, then the repeatable scripts (Gold's row-level security).
Idempotent: a second run finds nothing to do. The pipeline's runs do no DDL: they check the schema version
(one read) and fail at once, naming this DAG, when the warehouse is behind.

Run it after every deploy: trigger it in the UI, or `airflow dags trigger warehouse_migrate`; outside Airflow
`python -m domotic.warehouse migrate` does the same (what `make demo`, `make airflow` and compose's
`airflow-init` run). See docs/runbook.md, "Deploy".
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from domotic.warehouse import tasks as warehouse_tasks
from domotic_airflow.dag_defaults import default_args, owner_links, run_deadline, task_timeout


@dag(
    dag_id="warehouse_migrate",
    description="Deploy step: apply the warehouse schema migrations this code needs (idempotent)",
    schedule=None,
    start_date=pendulum.datetime(2023, 8, 18, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=["ops", "deploy", "schema"],
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=30)),
    owner_links=owner_links(),
    deadline=run_deadline("warehouse_migrate", 30),
    doc_md=__doc__,
)
def warehouse_migrate():
    @task(execution_timeout=task_timeout("migrate"))
    def apply_migrations() -> dict:
        return warehouse_tasks.migrate()

    apply_migrations()


warehouse_migrate()
