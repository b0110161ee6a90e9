"""
### data_freshness: alert when Silver falls behind live sources

Every 10 minutes: if the share received sensor files in the last `freshness_max_lag_minutes` (Variable,
default 20) but the newest file loaded into `silver.file_manifest` is older than that, the check fails with
`StaleDataError` and the failure alert (log, `ops.alerts`, e-mail) says how far behind Silver is. Silent
sources are reported in the log, not alerted on: the pipeline cannot be fresher than its sources.
See docs/runbook.md, "stale data".
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from domotic import freshness
from domotic_airflow.dag_defaults import default_args, run_deadline


@dag(
    dag_id="data_freshness",
    schedule="*/10 * * * *",
    start_date=pendulum.datetime(2023, 8, 18, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ops", "alerts", "silver"],
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=30)),
    deadline=run_deadline("data_freshness", 10),
    doc_md=__doc__,
)
def data_freshness():
    @task
    def check_sensor_freshness() -> dict:
        return freshness.run_check()

    check_sensor_freshness()


data_freshness()
