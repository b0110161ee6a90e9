-- ops.alerts: every alert the pipeline raised (task failures after the last retry, missed deadlines,
-- stale data, maintenance warnings), whether or not its e-mail went out. Written by
-- plugins/domotic_airflow/alerts.py; read it when the mail server itself was down.
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.alerts (
    alert_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,   -- task_failure | deadline_missed | stale_data | maintenance
    dag_id      text,
    task_id     text,
    run_id      text,
    subject     text        NOT NULL,
    message     text        NOT NULL,
    details     jsonb,
    email_sent  boolean     NOT NULL DEFAULT false,
    email_error text
);
CREATE INDEX IF NOT EXISTS alerts_raised_at ON ops.alerts (raised_at);
