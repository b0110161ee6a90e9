"""Alerts: one notifier for task failures (after the last retry), missed Deadline Alerts and data checks.

Every alert goes three ways, each independent of the others (an alert that fails to send must not hide the
others): the task/triggerer log (``ALERT ...``, with ``dag_id`` and ``run_id`` as structured fields), the
``ops.alerts`` table of the warehouse, and an e-mail (plain text and HTML) through the SMTP connection
``alerts_smtp``.

* task failure: ``on_failure_callback=AlertNotifier(kind="task_failure")`` (set by ``default_args()``);
  Airflow calls it only when the task has no retry left.
* missed deadline: ``AsyncCallback(AlertNotifier, kwargs={"kind": "deadline_missed", ...})``; the
  triggerer instantiates the notifier with the deadline's simplified context and awaits it.

What is mailed and what is only recorded (``mail_decision``): a deadline alert is recorded but not mailed for a
run that had already failed (its failure alert said so), for a run created after its deadline had already
passed (catch-up of a past date), and for backfill runs (queued by the hundred, late by design).

Every alert says what happened, how late, the run's state and logical date, and links to the run and the
task log in the UI (``[api] base_url``). Lives in plugins/ because the triggerer imports callbacks by path and
does not load DAG bundles.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from domotic.freshness.checks import StaleDataError

log = logging.getLogger(__name__)

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


def _when(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO-8601 string (deadline contexts are JSON)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def ui_links(dag_id: str | None, run_id: str | None, task_id: str | None = None,
             map_index: int | None = None, try_number: int | None = None) -> dict[str, str]:
    """Links into the Airflow 3 UI: the run, and the task's log when there is a task."""
    if not dag_id or not run_id:
        return {}
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    run = f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    links = {"run": run}
    if task_id:
        task = f"{run}/tasks/{quote(task_id)}"
        if map_index is not None and map_index >= 0:
            task += f"/mapped/{map_index}"
        links["task_log"] = task + (f"?try_number={try_number}" if try_number else "")
    return links


def describe(kind: str, context: dict[str, Any], extra: dict[str, Any],
             now: datetime | None = None) -> dict[str, Any]:
    """What an alert says, from a task context or a deadline's simplified context."""
    now = now or datetime.now(UTC)
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = extra.get("dag_id") or _field(ti, "dag_id") or _field(dag_run, "dag_id")
    task_id = _field(ti, "task_id")
    run_id = _field(ti, "run_id") or _field(dag_run, "dag_run_id") or _field(dag_run, "run_id")
    state = _field(dag_run, "state")
    logical_date = _when(_field(dag_run, "logical_date"))
    details: dict[str, Any] = {k: v for k, v in extra.items() if k not in {"message", "subject"}}
    details.update({"run_state": str(state) if state is not None else None,
                    "logical_date": logical_date.isoformat() if logical_date else None})
    try_number = _field(ti, "try_number")
    links = ui_links(dag_id, run_id, task_id, _field(ti, "map_index"), try_number)
    if kind == "task_failure" and isinstance(context.get("exception"), StaleDataError):
        kind = "stale_data"  # the freshness check fails its task on purpose: say what it means
        subject = f"[domotic] stale data: {dag_id}"
        message = str(context.get("exception"))
    elif kind == "task_failure":
        error = context.get("exception")
        max_tries = _field(ti, "max_tries")
        tries = f"try {try_number} of {int(max_tries) + 1}" if max_tries is not None else f"try {try_number}"
        subject = f"[domotic] task failed: {dag_id}.{task_id}"
        message = (f"Task {dag_id}.{task_id} failed for good in run {run_id} ({tries}, no retry left): "
                   f"{type(error).__name__ if error else 'error'}: {error!s}. The run has failed; if its "
                   "deadline comes due it is recorded, not mailed again.")
    elif kind == "deadline_missed":
        deadline_time = _when((context.get("deadline") or {}).get("deadline_time"))
        late = (now - deadline_time).total_seconds() if deadline_time else None
        details.update({"deadline_time": deadline_time.isoformat() if deadline_time else None,
                        "late_seconds": round(late) if late is not None else None})
        subject = f"[domotic] deadline missed: {dag_id}"
        message = (f"Run {run_id} of {dag_id} had not finished by its deadline "
                   f"{deadline_time.isoformat() if deadline_time else '?'} "
                   f"({extra.get('rule', 'see the DAG deadline')}): "
                   f"{_duration(late) + ' late' if late is not None else 'late'}, state {state or 'unknown'}. "
                   "The run keeps running; this alert only says it is late.")
    else:
        subject = f"[domotic] {kind}: {extra.get('subject', dag_id)}"
        message = str(extra.get("message", ""))
    if logical_date:
        message += f" Logical date {logical_date.isoformat()}."
    return {"kind": kind, "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "subject": subject,
            "message": message, "details": details, "links": links, "raised_at": now.isoformat()}


def mail_decision(alert: dict[str, Any], context: dict[str, Any]) -> str | None:
    """None to mail the alert, else why it is only recorded."""
    if alert["kind"] != "deadline_missed":
        return None
    dag_run = context.get("dag_run")
    if str(alert["run_id"] or "").startswith("backfill__"):
        # A backfill queues all its runs at once and runs a few at a time, so late backfill runs are expected:
        # recorded and logged, not mailed (an e-mail per backfilled day would drown the real alerts).
        return "not mailed: backfill run"
    if str(_field(dag_run, "state") or "") in {"failed", "success"}:
        # Airflow prunes deadlines only of successful runs: a failed run's deadline still fires, after its
        # failure alert already said it failed.
        return f"not mailed: the run had already {'failed' if _field(dag_run, 'state') == 'failed' else 'ended'}"
    deadline_time = _when(alert["details"].get("deadline_time"))
    created = _when(_field(dag_run, "queued_at")) or _when(_field(dag_run, "run_after"))
    if deadline_time and created and created >= deadline_time:
        return "not mailed: the run was created after its deadline had passed (catch-up of a past date)"
    return None


def email_message(alert: dict[str, Any], to: str, sender: str) -> EmailMessage:
    """The alert as an e-mail: a plain-text part and an HTML alternative, both with the UI links."""
    links = alert.get("links") or {}
    details = json.dumps(alert["details"], indent=2, default=str)
    text = [alert["message"], ""]
    text += [f"{name.replace('_', ' ')}: {url}" for name, url in links.items()]
    text += ["", details, "", f"Raised {alert['raised_at']}. What to do: docs/runbook.md, section 6."]
    link_html = "".join(f'<li><a href="{html.escape(url)}">{html.escape(name.replace("_", " "))}</a></li>'
                        for name, url in links.items())
    body = (f"<p>{html.escape(alert['message'])}</p><ul>{link_html}</ul><pre>{html.escape(details)}</pre>"
            f"<p>Raised {html.escape(alert['raised_at'])}. What to do: docs/runbook.md, section 6.</p>")
    message = EmailMessage()
    message["Subject"] = alert["subject"]
    message["From"] = sender
    message["To"] = to
    message.set_content("\n".join(text))
    message.add_alternative(body, subtype="html")
    return message


def _send(message: EmailMessage) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from domotic.settings import SMTP_CONN_ID

    # SmtpHook.send_email_smtp builds HTML-only messages: the hook connects and logs in (TLS, auth and
    # timeouts from the connection), and its client sends our multipart (text + HTML) message.
    with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
        hook._smtp_client.send_message(message)


def _record(alert: dict[str, Any], email_sent: bool, email_error: str | None) -> None:
    from domotic.airflow_adapter import warehouse_connection

    # ops.alerts exists since migration 1: no schema check, an alert must be recorded whatever else is behind.
    with warehouse_connection(check_schema=False) as conn:
        conn.execute(
            "INSERT INTO ops.alerts (kind, dag_id, task_id, run_id, subject, message, details, email_sent,"
            " email_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (alert["kind"], alert["dag_id"], alert["task_id"], alert["run_id"], alert["subject"],
             alert["message"], json.dumps({**alert["details"], "links": alert["links"]}, default=str),
             email_sent, email_error),
        )


def raise_alert(kind: str, context: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Log, e-mail and record one alert (synchronously). Never raises."""
    alert = describe(kind, context, extra)
    fields = {"dag_id": alert["dag_id"], "run_id": alert["run_id"], "task_id": alert["task_id"],
              "alert_kind": alert["kind"]}
    log.error("ALERT %s: %s", alert["subject"], alert["message"], extra=fields)
    email_sent, email_error = False, mail_decision(alert, context)
    if email_error is None:
        try:
            _send(email_message(alert, _setting("alerts_email_to"), _setting("alerts_email_from")))
            email_sent = True
        except Exception as exc:  # keep the other channels working
            email_error = f"{type(exc).__name__}: {exc}"
            log.error("ALERT e-mail not sent (%s); the alert is still in the log and ops.alerts", email_error,
                      extra=fields)
    else:
        log.warning("ALERT %s", email_error, extra=fields)
    try:
        _record(alert, email_sent, email_error)
    except Exception as exc:
        log.error("ALERT not recorded in ops.alerts: %s: %s", type(exc).__name__, exc, extra=fields)
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
