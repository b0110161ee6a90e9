"""A DAG that fails once its retries are spent, to test the failure alert end to end."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from domotic_airflow.dag_defaults import default_args


@dag(dag_id="alert_probe", schedule=None, start_date=pendulum.datetime(2023, 8, 18, tz="UTC"), catchup=False,
     tags=["test"], default_args=default_args(retries=1, retry_delay=timedelta(seconds=0),
                                              retry_exponential_backoff=0, retry_policy=None))
def alert_probe():
    @task
    def always_fails():
        raise ValueError("simulated permanent failure of the probe task")

    always_fails()


alert_probe()
