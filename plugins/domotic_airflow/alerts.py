"""Alert callbacks: task failure after the last retry, and missed Deadline Alerts.

Each alert is logged; the operations issue extends this with the alerts table and e-mail.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def on_task_failure(context: dict) -> None:
    """Called by Airflow when a task fails for good (after its last retry)."""
    ti = context.get("ti") or context.get("task_instance")
    log.error(
        "ALERT task failed: dag=%s task=%s run=%s try=%s error=%s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "run_id", "?"),
        getattr(ti, "try_number", "?"), context.get("exception"),
    )


async def on_deadline_missed(dag_id: str, **kwargs: object) -> None:
    """Runs in the triggerer when a DAG run misses its deadline."""
    log.error("ALERT deadline missed: dag=%s context=%s", dag_id, kwargs.get("context"))
