"""Everything the pipeline needs from Airflow, in one place: typed settings and connections.

The only module of the ``domotic`` package that imports Airflow (``tests/unit/test_architecture.py`` fails
otherwise). The packages' ``tasks.py`` modules call it; everything below them takes plain values (paths,
connections, numbers), so it runs and is tested without Airflow.

* ``setting(key)``: an Airflow Variable (or ``AIRFLOW_VAR_<KEY>``) converted to its registered type
  (``domotic.settings.VARIABLES``), or its default; a value of the wrong type fails at once with a message
  naming the Variable and where to set it (``ConfigurationError``: not retried).
* ``warehouse_connection()``, ``mysql_connection()``, ``sftp_hook()``, ``pg_command_env()``: provider hooks on the
  Connections of ``domotic.settings.CONNECTIONS``; a missing connection fails at once, naming it.
* ``raise_alert(kind, subject, message, details)``: an alert from inside a task through the repository's notifier
  (``domotic_airflow.alerts``: log, ``ops.alerts``, e-mail), for conditions that must not fail the task.
"""

from __future__ import annotations

import os
from typing import Any

from domotic.errors import ConfigurationError
from domotic.settings import MYSQL_CONN_ID, POSTGRES_CONN_ID, SFTP_CONN_ID, VARIABLES

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw_variable(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return None if value is None else str(value)


def convert(key: str, raw: str) -> Any:
    """``raw`` as the registered type of Variable ``key``; ConfigurationError naming it when it does not fit."""
    kind = VARIABLES[key].type
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(raw)
            return lowered in _TRUE
        return kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"Variable {key} must be {kind.__name__}, got {raw!r}: fix it in the Airflow UI (Admin > Variables) "
            f"or the AIRFLOW_VAR_{key.upper()} environment variable (default {VARIABLES[key].default!r})"
        ) from None


def setting(key: str) -> Any:
    """The typed value of a registered Variable, or its default. Call only at task run time."""
    if key not in VARIABLES:
        raise KeyError(f"{key!r} is not a registered setting (domotic.settings.VARIABLES)")
    raw = _raw_variable(key)
    return convert(key, VARIABLES[key].default if raw is None else raw)


def _missing_connection(conn_id: str, exc: Exception) -> ConfigurationError:
    from domotic.settings import CONNECTIONS

    return ConfigurationError(
        f"Airflow connection '{conn_id}' ({CONNECTIONS.get(conn_id, 'see README')}) is not defined: add it in "
        f"the Airflow UI (Admin > Connections) or as the AIRFLOW_CONN_{conn_id.upper()} environment variable"
    )


_SCHEMA_CHECKED: set[str] = set()  # connection ids whose schema version this process has checked


def _check_schema_once(conn_id: str, conn: Any) -> None:
    """Runs do no DDL: the first connection of a process checks the warehouse is at the code's schema version
    (one indexed read) and fails at once, naming the deploy step, when it is behind."""
    if conn_id in _SCHEMA_CHECKED:
        return
    from domotic.warehouse.migrations import require_current

    try:
        require_current(conn)
    finally:
        conn.rollback()  # leave no transaction open for the caller
    _SCHEMA_CHECKED.add(conn_id)


def _postgres_hook(conn_id: str) -> Any:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id)


def _connect(hook: Any, conn_id: str, check_schema: bool) -> Any:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = hook.get_conn()
    except AirflowNotFoundException as exc:
        raise _missing_connection(conn_id, exc) from exc
    if check_schema:
        try:
            _check_schema_once(conn_id, conn)
        except BaseException:
            conn.close()
            raise
    return conn


def warehouse_connection(conn_id: str = POSTGRES_CONN_ID, *, check_schema: bool = True) -> Any:
    """A psycopg 3 connection to the warehouse through ``PostgresHook`` (schema version checked once)."""
    return _connect(_postgres_hook(conn_id), conn_id, check_schema)


def warehouse_connect(conn_id: str = POSTGRES_CONN_ID):
    """A ``connect()`` callable for loaders that open their own connections: one hook (one connection
    lookup), many connections, the schema version checked once."""
    hook = _postgres_hook(conn_id)

    def connect() -> Any:
        return _connect(hook, conn_id, check_schema=True)

    return connect


def mysql_connection(conn_id: str = MYSQL_CONN_ID, init_command: str | None = None) -> Any:
    """A MySQL DB-API connection through ``MySqlHook``."""
    from airflow.providers.mysql.hooks.mysql import MySqlHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return MySqlHook(mysql_conn_id=conn_id, init_command=init_command).get_conn()
    except AirflowNotFoundException as exc:
        raise _missing_connection(conn_id, exc) from exc


def sftp_hook(conn_id: str = SFTP_CONN_ID) -> Any:
    """The provider's ``SFTPHook`` with its own connect retries off: retrying is Airflow's job (no sleeps)."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=1)
    except AirflowNotFoundException as exc:
        raise _missing_connection(conn_id, exc) from exc


def pg_command_env(conn_id: str = POSTGRES_CONN_ID) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment for a PostgreSQL client (pg_dump, pg_restore), from the Connection.

    The password goes into ``PGPASSWORD`` only, never onto the command line (visible in the process list:
    legacy-system.md §8 item 37). ``-w`` makes the client fail instead of prompting.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    hook = PostgresHook(postgres_conn_id=conn_id)
    try:
        conn = hook.connection
    except AirflowNotFoundException as exc:
        raise _missing_connection(conn_id, exc) from exc
    dbname = hook.database or conn.schema
    if not dbname:
        raise ConfigurationError(f"connection {conn_id} names no database (its 'schema' field)")
    args = ["-w", "-d", dbname]
    if conn.host:
        args += ["-h", conn.host]
    if conn.port:
        args += ["-p", str(conn.port)]
    if conn.login:
        args += ["-U", conn.login]
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)  # the Connection is the only source of the password
    if conn.password:
        env["PGPASSWORD"] = conn.password
    extras = conn.extra_dejson
    for key, var in (("sslmode", "PGSSLMODE"), ("sslcert", "PGSSLCERT"), ("sslkey", "PGSSLKEY"),
                     ("sslrootcert", "PGSSLROOTCERT"), ("connect_timeout", "PGCONNECT_TIMEOUT")):
        if extras.get(key) not in (None, ""):
            env[var] = str(extras[key])
    return args, env


def raise_alert(kind: str, subject: str, message: str, details: dict[str, Any] | None = None,
                **extra: Any) -> dict[str, Any] | None:
    """Raise an alert without failing the task: the repository's alert channels (task log, ``ops.alerts``,
    e-mail; ``domotic_airflow.alerts``), with the running task's context when there is one. Never raises;
    returns the alert as sent, or None when it could not be raised (the reason is logged)."""
    import logging

    try:
        from airflow.sdk import get_current_context

        context = dict(get_current_context())
    except Exception:  # outside a task (tests, CLI): the alert still goes out, without run links
        context = {}
    try:
        from domotic_airflow.alerts import raise_alert as notify

        return notify(kind, context, subject=subject, message=message, **(details or {}), **extra)
    except Exception as exc:  # the alert must not fail the work it reports on
        logging.getLogger(__name__).error("ALERT %s could not be raised (%s): %s", subject, exc, message)
        return None
