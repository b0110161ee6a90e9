"""Superset configuration of the domotics BI layer (read through ``SUPERSET_CONFIG_PATH``).

Used as is by ``make bi`` (devtools/domotic_dev/bi.py) and by the ``superset`` service of docker-compose.yaml.
Everything deployment-specific comes from the environment:

``SUPERSET_SECRET_KEY``
    Signs sessions and encrypts stored credentials. Required: there is no default. Only local development
    (``DOMOTIC_BI_LOCAL_DEV=1``, set by ``make bi``) may leave it unset, and then a random key is generated
    once and kept in ``DOMOTIC_BI_HOME`` (never a key written in code).
``SUPERSET_METADATA_URI``
    Superset's own metadata database (SQLAlchemy URI). Default: SQLite in ``DOMOTIC_BI_HOME``.
``bi/users.yaml`` (beside this file, not the environment)
    Superset user -> warehouse login. Every query runs as the login of the Superset user who asks
    (``DB_CONNECTION_MUTATOR`` below), a member of ``role_admin`` or of the owner's ``role_<apartment>``:
    PostgreSQL row-level security decides which rows come back. A user missing from the file queries as the
    connection's own login (``bi_superset``), which has no right on Gold: fail closed.
``DOMOTIC_BI_DB_PASSWORD_<LOGIN>``
    Password of a warehouse login (upper case, e.g. ``DOMOTIC_BI_DB_PASSWORD_BI_JIMMY``); none with trust auth.
``DOMOTIC_BI_WAREHOUSE_HOST`` / ``_PORT`` / ``_DB``
    Where the warehouse is, when not where the versioned connection says (``warehouse:5432/domotic``, the
    compose service): ``make bi`` points them at its private PostgreSQL. The connection stored in Superset
    stays the repository's (bi/assets/databases/), so an export equals the versioned files.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

log = logging.getLogger("domotic.bi")

BI_HOME = Path(os.environ.get("DOMOTIC_BI_HOME", "/app/superset_home"))
LOCAL_DEV = os.environ.get("DOMOTIC_BI_LOCAL_DEV") == "1"


def _secret_key() -> str:
    key = os.environ.get("SUPERSET_SECRET_KEY", "")
    if key:
        return key
    if not LOCAL_DEV:
        raise RuntimeError("SUPERSET_SECRET_KEY is not set: generate one (openssl rand -base64 42) and pass it in "
                           "the environment; only local development (make bi) may run without it")
    stored = BI_HOME / "secret_key"
    if not stored.exists():
        BI_HOME.mkdir(parents=True, exist_ok=True)
        stored.write_text(secrets.token_urlsafe(42))
        stored.chmod(0o600)
    return stored.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URI") or f"sqlite:///{BI_HOME / 'superset.db'}"

# Dashboards are the product: no example data, no telemetry, English UI, Zurich users.
SUPERSET_WEBSERVER_TIMEOUT = 60
ROW_LIMIT = 50_000
FEATURE_FLAGS = {
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
}
# Query results are never shared between users: no data cache at all (the warehouse answers each user with
# that user's rows). A cache, if one is added, must stay per user (CACHE_QUERY_BY_USER).
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Served on 127.0.0.1 behind no TLS in development; a deployment puts a TLS proxy in front.
TALISMAN_ENABLED = False
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True
# Owners neither write SQL nor upload files.
CSV_EXTENSIONS: set[str] = set()
SQLLAB_CTAS_NO_LIMIT = False
PREVENT_UNSAFE_DB_CONNECTIONS = True


def _logins() -> dict[str, str]:
    """Superset user -> warehouse login, from bi/users.yaml beside this file."""
    import yaml

    users = yaml.safe_load((Path(__file__).resolve().parent / "users.yaml").read_text(encoding="utf-8"))["users"]
    return {user["username"]: user["db_login"] for user in users}


BI_DB_LOGINS = _logins()


def DB_CONNECTION_MUTATOR(uri: Any, params: dict, username: str | None, security_manager: Any,
                          source: Any) -> tuple[Any, dict]:
    """Every warehouse connection runs as the warehouse login of the Superset user asking.

    The login is a member of exactly one BI group role (role_admin, role_jimmy, role_jeremie...), so the
    warehouse's row-level security filters every query: charts, dashboards, SQL Lab and Explore alike.
    Users without a mapping (and background work with no user) keep the connection's own login, which reads
    nothing in Gold.
    """
    if uri.drivername.startswith("postgresql"):
        login = BI_DB_LOGINS.get(username or "") or uri.username
        password = os.environ.get(f"DOMOTIC_BI_DB_PASSWORD_{login.upper()}")
        uri = uri.set(username=login, password=password or None)
        host, port, database = (os.environ.get(f"DOMOTIC_BI_WAREHOUSE_{part}") for part in ("HOST", "PORT", "DB"))
        if host:
            uri = uri.set(host=host)
        if port:
            uri = uri.set(port=int(port))
        if database:
            uri = uri.set(database=database)
    return uri, params
