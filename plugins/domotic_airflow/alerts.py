"""Alerts: one notifier for task failures (after the last retry), missed Deadline Alerts and data checks.

Every alert goes three ways, each independent of the others (an alert that fails to send must not hide the
others): the task/triggerer log (``ALERT ...``), the ``ops.alerts`` table of the warehouse, and an e-mail
through the SMTP connection ``alerts_smtp`` (Airflow's ``SmtpNotifier``).

* task failure: ``on_failure_callback=AlertNotifier(kind="task_failure")`` (set by ``default_args()``);
  Airflow calls it only when the task has no retry left.
* missed deadline: ``AsyncCallback(AlertNotifier, kwargs={"kind": "deadline_missed", ...})``; the
  triggerer instantiates the notifier with the deadline's simplified context and awaits it.

Lives in plugins/ because the triggerer imports callbacks by path and does not load DAG bundles.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseNotifier

from domotic.freshness.checks import StaleDataError

log = logging.getLogger(__name__)

ALERTS_TABLE_SQL = "ops/alerts.sql"


def _setting(key: str) -> str:
    """A registered Variable (domotic.settings), or its default when even the metadata API is unreachable:
    alerting must keep working then."""
    from domotic.airflow_adapter import setting
    from domotic.settings import VARIABLES

    try:
        return str(setting(key))
    except Exception:
        return VARIABLES[key].default


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def describe(kind: str, context: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """What an alert says, from a task context or a deadline's simplified context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = extra.get("dag_id") or _field(ti, "dag_id") or _field(dag_run, "dag_id")
    task_id = _field(ti, "task_id")
    run_id = _field(ti, "run_id") or _field(dag_run, "dag_run_id") or _field(dag_run, "run_id")
    if kind == "task_failure" and isinstance(context.get("exception"), StaleDataError):
        kind = "stale_data"  # the freshness check fails its task on purpose: say what it means
        subject = f"[domotic] stale data: {dag_id}"
        message = str(context.get("exception"))
    elif kind == "task_failure":
        error = context.get("exception")
        subject = f"[domotic] task failed: {dag_id}.{task_id}"
        message = (f"Task {dag_id}.{task_id} failed in run {run_id} after try {_field(ti, 'try_number')}: "
                   f"{error!s}")
    elif kind == "deadline_missed":
        deadline = context.get("deadline") or {}
        subject = f"[domotic] deadline missed: {dag_id}"
        message = (f"Run {run_id} of {dag_id} had not finished by its deadline "
                   f"{deadline.get('deadline_time')} ({extra.get('rule', 'see the DAG deadline')}).")
    else:
        subject = f"[domotic] {kind}: {extra.get('subject', dag_id)}"
        message = str(extra.get("message", ""))
    return {"kind": kind, "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "subject": subject,
            "message": message, "details": {k: v for k, v in extra.items() if k not in {"message", "subject"}}}


def _record(alert: dict[str, Any], email_sent: bool, email_error: str | None) -> None:
    from domotic.airflow_adapter import warehouse_connection
    from domotic.paths import SQL_DIR

    with warehouse_connection() as conn:
        conn.execute((SQL_DIR / ALERTS_TABLE_SQL).read_text())
        conn.execute(
            "INSERT INTO ops.alerts (kind, dag_id, task_id, run_id, subject, message, details, email_sent,"
            " email_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (alert["kind"], alert["dag_id"], alert["task_id"], alert["run_id"], alert["subject"],
             alert["message"], json.dumps(alert["details"], default=str), email_sent, email_error),
        )


def _email_notifier(alert: dict[str, Any]) -> Any:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from domotic.settings import SMTP_CONN_ID

    body = (f"<p>{alert['message']}</p><pre>{json.dumps(alert['details'], indent=2, default=str)}</pre>"
            f"<p>Raised {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC. See docs/runbook.md.</p>")
    return SmtpNotifier(to=_setting("alerts_email_to"), from_email=_setting("alerts_email_from"),
                        subject=alert["subject"], html_content=body, smtp_conn_id=SMTP_CONN_ID)


def raise_alert(kind: str, context: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Log, e-mail and record one alert (synchronously). Never raises."""
    alert = describe(kind, context, extra)
    log.error("ALERT %s: %s", alert["subject"], alert["message"])
    email_sent, email_error = False, None
    if alert["kind"] == "deadline_missed" and str(alert["run_id"] or "").startswith("backfill__"):
        # A backfill queues all its runs at once and runs a few at a time, so late backfill runs are expected:
        # recorded and logged, not mailed (an e-mail per backfilled day would drown the real alerts).
        email_error = "not mailed: backfill run"
    else:
        try:
            _email_notifier(alert).notify({})
            email_sent = True
        except Exception as exc:  # keep the other channels working
            email_error = f"{type(exc).__name__}: {exc}"
            log.error("ALERT e-mail not sent (%s); the alert is still in the log and ops.alerts", email_error)
    try:
        _record(alert, email_sent, email_error)
    except Exception as exc:
        log.error("ALERT not recorded in ops.alerts: %s: %s", type(exc).__name__, exc)
    return {**alert, "email_sent": email_sent, "email_error": email_error}


class AlertNotifier(BaseNotifier):
    """Airflow notifier for the repository's alerts (see the module docstring)."""

    template_fields = ()

    def __init__(self, kind: str = "task_failure", context: dict | None = None, **extra: Any) -> None:
        super().__init__(context=context)
        self.kind = kind
        self.extra = extra

    def notify(self, context: dict[str, Any]) -> None:
        raise_alert(self.kind, dict(context or {}), **self.extra)

    async def async_notify(self, context: dict[str, Any]) -> None:
        # The triggerer's event loop must not block on SMTP or Postgres: run the sync channels in a thread.
        await asyncio.to_thread(raise_alert, self.kind, dict(context or {}), **self.extra)


def on_task_failure(context: dict[str, Any]) -> None:
    """Plain-function form of the failure alert (for callers that need a function)."""
    raise_alert("task_failure", context)
