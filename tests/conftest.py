"""Shared test fixtures: a private AIRFLOW_HOME, and the real services (Postgres, MariaDB, SFTP).

Services come from ``domotic_dev.services``: the machine's own Postgres/MariaDB when they run on their
standard ports, otherwise private instances started under ``.services/``. A service that cannot be reached
makes the test fail (never skip).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at import time: point it at a throw-away home before anything imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="domotic-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # Deadline alerts crash dag.test() in Airflow 3.3.2 (apache/airflow#73428): off for in-process runs.
        "DOMOTIC_DEADLINES_ENABLED": "false",
        "DOMOTIC_HISTORY_START": "2023-08-18",
    }
)

from domotic_dev import services  # noqa: E402

from tests.fixtures.services import pg_conn_json  # noqa: E402

# Fixture modules shared by several test modules (no test module imports another); pytest imports them after
# this file, so after the environment above is set. One entry per line.
pytest_plugins = [
    "tests.fixtures.bi",
    "tests.fixtures.gold",
    "tests.fixtures.hostile",
    "tests.fixtures.maintenance",
    "tests.fixtures.ml",
    "tests.fixtures.pidb",
    "tests.fixtures.weather",
]


@pytest.fixture(scope="session")
def pg_service() -> Iterator[services.Service]:
    svc = services.ensure_postgres()
    yield svc
    if svc.private:
        svc.stop()


@pytest.fixture
def warehouse(empty_warehouse: dict) -> dict:
    """A fresh warehouse at the code's schema version (the deploy step applied), wired as ``domotic_postgres``."""
    import psycopg

    from domotic.warehouse.migrations import apply as migrate

    with psycopg.connect(empty_warehouse["conninfo"]) as conn:
        migrate(conn)
    return empty_warehouse


@pytest.fixture
def empty_warehouse(pg_service: services.Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A fresh, empty database (no migration applied), wired as the ``domotic_postgres`` connection."""
    dbname = f"domotic_test_{uuid.uuid4().hex[:10]}"
    services.create_database(pg_service, dbname)
    monkeypatch.setenv("AIRFLOW_CONN_DOMOTIC_POSTGRES", pg_conn_json(pg_service, dbname))
    info = {"host": pg_service.host, "port": pg_service.port, "user": pg_service.user, "dbname": dbname,
            "conninfo": f"host={pg_service.host} port={pg_service.port} user={pg_service.user} dbname={dbname}"}
    yield info
    services.drop_database(pg_service, dbname)


@pytest.fixture(scope="session")
def mariadb_service() -> Iterator[services.Service]:
    svc = services.ensure_mariadb()
    yield svc
    if svc.private:
        svc.stop()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB, needed by dag.test() (not by DAG parsing)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    return _AIRFLOW_HOME
