"""Names and defaults of the deployment settings (Airflow Variables and Connections).

Every Variable has a default so a fresh install runs; each one can be overridden as an Airflow Variable or
as an ``AIRFLOW_VAR_<KEY>`` environment variable. Look them up only inside tasks (``setting``), never at
DAG-parse time.
"""

from __future__ import annotations

import os
from datetime import date

# Connection ids (the contract in design.md section 3).
POSTGRES_CONN_ID = "domotic_postgres"
MYSQL_CONN_ID = "pidb_mysql"
SFTP_CONN_ID = "meteo_sftp"
SMTP_CONN_ID = "alerts_smtp"

# Variable keys and their defaults.
DEFAULTS: dict[str, str] = {
    "domotic_smb_path": "/data/smb",
    "domotic_bronze_root": "/data/bronze",
    "domotic_source_tz": "UTC",
    "meteo_sftp_path": "/Meteo2",
    "weather_min_year": "2023",
    "weather_sites": "Sion",
    # How long sensors_minutely waits for a minute's files after the minute has ended.
    "sensor_wait_seconds": "180",
    # Files per COPY batch (one transaction each) when loading sensor files into Silver.
    "sensor_batch_files": "5000",
    # sensors_daily splits a day into chunks of this many hours, one mapped task each (scale-out).
    "sensor_chunk_hours": "6",
    # Data freshness: alert when the newest Silver reading is older than this while sources deliver.
    "freshness_max_lag_minutes": "20",
    # Gold coverage: alert when a Silver change has waited this long in Gold's work ledger (gold_build stuck).
    "gold_max_pending_minutes": "120",
}


def setting(key: str) -> str:
    """The Variable's value, or its default. Call only at task run time."""
    from airflow.sdk import Variable

    return str(Variable.get(key, default=DEFAULTS[key]))


def history_start() -> date:
    """First day of the sensor history (deployment configuration, cheap to read at parse time)."""
    return date.fromisoformat(os.environ.get("DOMOTIC_HISTORY_START", "2023-08-18"))


def var_template(key: str) -> str:
    """A Jinja expression for a templated operator field: the Variable at run time, or its default."""
    return f"{{{{ var.value.get('{key}', '{DEFAULTS[key]}') }}}}"


def catchup_enabled() -> bool:
    """Whether the daily DAGs catch up from the history start (``DOMOTIC_CATCHUP``, default true).

    Backfills through ``airflow backfill create`` work either way; the demo and benchmarks turn catch-up off
    so the scheduler does not queue every day up to today beside their backfills.
    """
    return os.environ.get("DOMOTIC_CATCHUP", "true").lower() not in {"0", "false", "no", "off"}
