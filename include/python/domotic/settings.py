"""Every deployment setting the pipeline reads, in one registry: name, type, default, meaning.

Two kinds:

* **Variables** (``VARIABLES``): Airflow Variables (or ``AIRFLOW_VAR_<KEY>`` environment variables), read only at
  task run time through ``domotic.airflow_adapter.setting``; each has a default so a fresh install runs.
* **Environment** (``ENVIRONMENT``): ``DOMOTIC_*`` environment variables read when DAG files are parsed (cheap,
  unlike Variables): history start, catch-up, deadlines, retry delays, pools.

Connections are named here too (``CONNECTIONS``). Nothing here imports Airflow: the registry is plain data,
read by the adapter, the README check and the docker-compose check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

# Connection ids (the contract of design.md section 3).
POSTGRES_CONN_ID = "domotic_postgres"
MYSQL_CONN_ID = "pidb_mysql"
SFTP_CONN_ID = "meteo_sftp"
SMTP_CONN_ID = "alerts_smtp"

CONNECTIONS: dict[str, str] = {
    POSTGRES_CONN_ID: "the warehouse (schemas silver, gold, ops)",
    MYSQL_CONN_ID: "the MySQL reference database (pidb)",
    SFTP_CONN_ID: "the weather sFTP server (host key verified)",
    SMTP_CONN_ID: "SMTP server for alert e-mails",
}


@dataclass(frozen=True)
class Setting:
    """One setting: its key, type (``str``, ``int``, ``float``, ``bool``), default (as text) and meaning."""

    key: str
    type: type
    default: str
    meaning: str


def _variables(*settings: Setting) -> dict[str, Setting]:
    return {s.key: s for s in settings}


VARIABLES: dict[str, Setting] = _variables(
    # --- sources and storage
    Setting("domotic_smb_path", str, "/data/smb", "folder where sensor files arrive (flat, as on the SMB share)"),
    Setting("domotic_bronze_root", str, "/data/bronze", "Bronze storage"),
    Setting("domotic_source_tz", str, "UTC", "clock of naive source timestamps"),
    Setting("meteo_sftp_path", str, "/Meteo2", "remote folder of the forecast files"),
    # --- sensors
    Setting("sensor_wait_seconds", int, "180", "how long sensors_minutely waits for a minute's files"),
    Setting("sensor_batch_files", int, "5000", "files per Silver load transaction"),
    Setting("sensor_chunk_files", int, "20000", "sensors_daily loads a day in chunks of whole hours of at most "
            "this many files, one mapped task each"),
    Setting("sensor_outlier_bounds", str, "", "JSON {\"<sensor_type>.<field>\": [lo, hi]} overriding or adding "
            "outlier bounds (docs/sensors.md)"),
    Setting("sensor_max_file_bytes", int, "1048576", "share files larger than this are quarantined unread "
            "(real files: 3-10 kB)"),
    Setting("sensor_max_series_per_file", int, "1000", "a file with more readings is quarantined, with an "
            "alert (real files: ~55)"),
    Setting("sensor_max_new_series_per_day", int, "500", "new series one apartment may bring per UTC day of "
            "data; a file going over is quarantined, with an alert"),
    # --- weather
    Setting("weather_min_year", int, "2023", "forecast rows before this year are dropped"),
    Setting("weather_sites", str, "Sion", "comma-separated forecast sites Gold keeps"),
    Setting("weather_max_file_bytes", int, "67108864", "forecast files larger than this are not downloaded "
            "(recorded with the reason; real files: ~10 MB)"),
    # --- forecasts (ml_forecast_daily, docs/ml.md)
    Setting("ml_model_dir", str, "/data/ml/models", "folder of the model artifacts (written atomically)"),
    Setting("ml_history_days", int, "70", "days of Gold history a run reads to train and to build features"),
    Setting("ml_backtest_days", int, "14", "target days of the rolling-origin backtest gating a new model"),
    Setting("ml_retrain_every_days", int, "1", "retrain when the serving model is this many days old"),
    Setting("ml_degradation_ratio", float, "1.3", "retrain and alert when an apartment's live energy MAE "
            "exceeds this x its backtest MAE"),
    Setting("ml_live_window_days", int, "7", "issue days over which the live error is measured"),
    Setting("ml_gate_min_improvement", float, "0.0", "a new model is promoted only if its backtest error is at "
            "least this fraction below the naive baselines, per apartment"),
    # --- monitoring and alerts
    Setting("freshness_max_lag_minutes", float, "20", "allowed Silver lag behind live sources"),
    Setting("gold_max_pending_minutes", float, "120", "alert when a Silver change waits longer in Gold's "
            "work ledger"),
    Setting("alerts_email_to", str, "domotic-alerts@localhost", "alert e-mail recipients (comma-separated)"),
    Setting("alerts_email_from", str, "airflow-domotic@localhost", "alert e-mail sender"),
    # --- maintenance
    Setting("bronze_retention_days", int, "30", "sensor days and weather files older than this are compacted "
            "(negative: never)"),
    Setting("bronze_compaction_settle_hours", float, "24", "a day folder with a file younger than this is left "
            "for a later run"),
    Setting("backup_dir", str, "/data/backups", "where maintenance_backup writes pg_dump archives"),
    Setting("backup_retention_days", int, "14", "dumps older than this are deleted (the newest always stays)"),
    Setting("disk_free_min_gb", float, "5", "alert when the Bronze filesystem has less free space"),
    Setting("pg_dump_bin", str, "pg_dump", "pg_dump executable (pg_restore is looked up beside it)"),
)


@dataclass(frozen=True)
class EnvSetting:
    """A ``DOMOTIC_*`` environment variable read at DAG-parse time."""

    name: str
    default: str
    meaning: str


ENVIRONMENT: dict[str, EnvSetting] = {e.name: e for e in (
    EnvSetting("DOMOTIC_HISTORY_START", "2023-08-18", "first day of the daily DAGs (their start_date)"),
    EnvSetting("DOMOTIC_CATCHUP", "true", "whether the daily DAGs catch up from the history start"),
    EnvSetting("DOMOTIC_DEADLINES_ENABLED", "true", "Deadline Alerts on the DAGs (false for dag.test(), "
               "apache/airflow#73428)"),
    EnvSetting("DOMOTIC_DEADLINE_<DAG_ID>_MINUTES", "per DAG", "override one DAG's deadline"),
    EnvSetting("DOMOTIC_SFTP_RETRY_DELAY_SECONDS", "600", "first retry delay of the weather sFTP tasks"),
    EnvSetting("DOMOTIC_RUNBOOK_URL", "", "absolute URL of docs/runbook.md: the owner link of every DAG in the UI"),
    EnvSetting("DOMOTIC_LOAD_POOL", "default_pool", "Airflow pool of sensors_daily's ingest tasks"),
)}


def env(name: str) -> str:
    """A parse-time environment setting, or its default."""
    return os.environ.get(name, ENVIRONMENT[name].default)


def env_flag(name: str) -> bool:
    return env(name).strip().lower() not in {"0", "false", "no", "off"}


def history_start() -> date:
    """First day of the sensor history (deployment configuration, cheap to read at parse time)."""
    return date.fromisoformat(env("DOMOTIC_HISTORY_START"))


def catchup_enabled() -> bool:
    """Whether the daily DAGs catch up from the history start (``DOMOTIC_CATCHUP``, default true).

    Backfills through ``airflow backfill create`` work either way; the demo and benchmarks turn catch-up off
    so the scheduler does not queue every day up to today beside their backfills.
    """
    return env_flag("DOMOTIC_CATCHUP")


def var_template(key: str) -> str:
    """A Jinja expression for a templated operator field: the Variable at run time, or its default."""
    return f"{{{{ var.value.get('{key}', '{VARIABLES[key].default}') }}}}"
