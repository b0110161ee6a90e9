"""Provision Superset from the repository: ``python bi/provision.py setup|export`` with Superset's Python.

Runs inside Superset's own environment (``.venv-bi/bin/python`` under ``make bi``; the image's Python in the
``superset-init`` service of docker-compose.yaml), with ``SUPERSET_CONFIG_PATH`` pointing at
bi/superset_config.py.

``setup`` (idempotent, run at every start):
  1. Superset's metadata database upgraded, its roles and permissions synced (``superset db upgrade`` and
     ``superset init``);
  2. the ``Owner`` role: Gamma's read permissions (no SQL Lab, no editing, no export, no upload), and access
     to the datasets of the owner dashboards (bi/users.yaml, ``owner_dashboards``);
  3. the users of bi/users.yaml, with their passwords from the environment (``DOMOTIC_BI_PASSWORD_<USER>``;
     local development only: the username);
  4. the assets of bi/assets/ imported, overwriting what Superset holds (database connection, datasets,
     charts, dashboards). A dataset whose table or view is missing from the warehouse (for example
     ``gold.bi_forecast_hour`` before ``gold.fact_ml_predictions`` exists) is left out with its charts and
     every dashboard that shows one of them, and the log says so.

``logins --admin-uri URI``: the warehouse logins Superset connects as (``ensure_logins``), created with a
role that may create roles; ``make bi`` and compose's ``superset-init`` run it before ``setup``.

``export --out DIR``: every asset Superset holds, written as the repository keeps them (``normalize``: numeric
ids replaced by positions, export timestamp dropped, files sorted), so that ``git diff bi/assets`` shows
exactly what was edited in the UI.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
USERS_FILE = HERE / "users.yaml"
OWNER_ROLE = "Owner"
# Gamma permissions an apartment owner does not get: writing, exporting, uploading, tagging, sharing links
# that outlive the session, self-registration admin.
OWNER_DENIED_PERMISSIONS = {"can_write", "can_export", "can_export_as_example", "can_csv", "can_file_handler",
                            "can_bulk_create", "can_tag", "can_delete_embedded", "can_invalidate",
                            "can_export_streaming_csv", "can_add", "can_delete", "can_edit"}
OWNER_KEPT_WRITES = {"DashboardFilterStateRestApi", "DashboardPermalinkRestApi", "ExploreFormDataRestApi",
                     "ExplorePermalinkRestApi"}  # the state of filters and of Explore: needed to view

log = logging.getLogger("domotic.bi.provision")


# ----------------------------------------------------------------------------------------- repository files


def read_bundle(folder: Path = ASSETS_DIR) -> dict[str, str]:
    """Relative path -> YAML text of every asset file of the repository."""
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*.yaml"))}


def _stable_ids(dashboard: dict[str, Any]) -> dict[int, int]:
    """Chart ids of one dashboard -> 1..n in the order of their uuids (ids differ on every Superset)."""
    charts = sorted((node["meta"]["uuid"], node["meta"].get("chartId"))
                    for node in dashboard.get("position", {}).values()
                    if isinstance(node, dict) and node.get("type") == "CHART")
    return {old: new for new, (_, old) in enumerate(charts, start=1) if old is not None}


def _remap(value: Any, ids: dict[int, int], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _remap(v, ids, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, ids, key) for v in value]
    if key in ("chartId", "chartsInScope", "immune", "timed_refresh_immune_slices") and isinstance(value, int):
        return ids.get(value, value)
    return value


def normalize(files: dict[str, str]) -> dict[str, str]:
    """An export as the repository keeps it (see the module doc). Idempotent."""
    out = {}
    for name, text in files.items():
        data = yaml.safe_load(text)
        if name == "metadata.yaml":
            data.pop("timestamp", None)
        elif name.startswith("dashboards/"):
            data = _remap(data, _stable_ids(data))
        elif name.startswith("charts/"):
            params = data.get("params") or {}
            for volatile in ("slice_id", "datasource", "dashboards"):
                params.pop(volatile, None)
            data["query_context"] = None
        stable = _stable_name(name, data, out)
        out[stable] = yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=110)
    return dict(sorted(out.items()))


def _stable_name(name: str, data: dict[str, Any], taken: dict[str, str]) -> str:
    """``charts/Energy_kWh_9.yaml`` -> ``charts/Energy_kWh.yaml``: Superset suffixes file names with ids."""
    folder, _, file = name.rpartition("/")
    stem = re.sub(r"_\d+$", "", file.removesuffix(".yaml"))
    stable = f"{folder}/{stem}.yaml" if folder else f"{stem}.yaml"
    if stable in taken and "uuid" in data:
        stable = f"{folder}/{stem}_{str(data['uuid'])[:8]}.yaml"
    return stable


def write_bundle(files: dict[str, str], folder: Path) -> None:
    """Replace the YAML files of ``folder`` with ``files``."""
    for old in folder.rglob("*.yaml"):
        old.unlink()
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------- Superset


def _app() -> Any:
    from superset.app import create_app

    return create_app()


def _upgrade_and_init() -> None:
    from flask_migrate import upgrade
    from superset import appbuilder, security_manager
    from superset.extensions import migrate

    upgrade(directory=migrate.directory)
    appbuilder.add_permissions(update_perms=True)
    security_manager.sync_role_definitions()


def _users() -> dict[str, Any]:
    return yaml.safe_load(USERS_FILE.read_text(encoding="utf-8"))


def _admin_username() -> str:
    return next(u["username"] for u in _users()["users"] if u["superset_role"] == "Admin")


def _password(username: str) -> str:
    password = os.environ.get(f"DOMOTIC_BI_PASSWORD_{username.upper()}", "")
    if password:
        return password
    if os.environ.get("DOMOTIC_BI_LOCAL_DEV") == "1":
        return username
    raise RuntimeError(f"DOMOTIC_BI_PASSWORD_{username.upper()} is not set (the Superset password of {username})")


def _ensure_users() -> None:
    from superset import db
    from superset import security_manager as sm

    for user in _users()["users"]:
        role = sm.find_role(user["superset_role"])
        existing = sm.find_user(username=user["username"])
        if existing is None:
            created = sm.add_user(user["username"], user["first_name"], user["last_name"],
                                  f"{user['username']}@localhost", role, password=_password(user["username"]))
            if not created:
                raise RuntimeError(f"could not create the Superset user {user['username']}")
        else:
            from werkzeug.security import generate_password_hash

            existing.roles = [role]
            existing.password = generate_password_hash(_password(user["username"]))
            existing.active = True
    db.session.commit()


def _ensure_owner_role(owner_dashboards: list[str]) -> None:
    """Gamma's permissions minus writing/exporting (and never SQL Lab, which Gamma lacks), plus access to the
    datasets of the owner dashboards."""
    from superset import db
    from superset import security_manager as sm
    from superset.models.dashboard import Dashboard

    gamma = sm.find_role("Gamma")
    owner = sm.find_role(OWNER_ROLE) or sm.add_role(OWNER_ROLE)
    permissions = [p for p in gamma.permissions
                   if p.permission.name not in OWNER_DENIED_PERMISSIONS
                   or (p.permission.name == "can_write" and p.view_menu.name in OWNER_KEPT_WRITES)]
    for dashboard in db.session.query(Dashboard).filter(Dashboard.slug.in_(owner_dashboards)):
        for chart in dashboard.slices:
            datasource = chart.datasource
            if datasource is not None:
                permissions.append(sm.add_permission_view_menu("datasource_access", datasource.perm))
    owner.permissions = list({p.id: p for p in permissions}.values())
    db.session.commit()
    leaked = [p for p in owner.permissions
              if "sql" in p.view_menu.name.lower() or ("sql" in p.permission.name.lower()
              and p.permission.name != "can_view_query")]
    if leaked:
        raise RuntimeError(f"the Owner role must not reach SQL Lab: {leaked}")


def _existing_relations() -> set[tuple[str, str]]:
    """(schema, name) of every table and view of the warehouse, read from the catalog (readable by any login)."""
    from superset import db
    from superset.models.core import Database

    bundle_dbs = {yaml.safe_load(text)["database_name"] for name, text in read_bundle().items()
                  if name.startswith("databases/")}
    found: set[tuple[str, str]] = set()
    for database in db.session.query(Database).filter(Database.database_name.in_(bundle_dbs)):
        with database.get_sqla_engine() as engine, engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
            found |= {(schema, name) for schema, name in rows}
    return found


def _select_assets(files: dict[str, str], relations: set[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Leave out datasets whose relation is missing, their charts and the dashboards showing them."""
    missing_datasets, left_out = set(), []
    for name, text in files.items():
        if name.startswith("datasets/"):
            data = yaml.safe_load(text)
            if data.get("sql") is None and (data["schema"], data["table_name"]) not in relations:
                missing_datasets.add(data["uuid"])
                left_out.append(f"{name} ({data['schema']}.{data['table_name']} does not exist)")
    missing_charts = set()
    for name, text in files.items():
        if name.startswith("charts/") and yaml.safe_load(text)["dataset_uuid"] in missing_datasets:
            missing_charts.add(yaml.safe_load(text)["uuid"])
            left_out.append(name)
    selected = {}
    for name, text in files.items():
        data = yaml.safe_load(text)
        if name.startswith("datasets/") and data["uuid"] in missing_datasets:
            continue
        if name.startswith("charts/") and data["uuid"] in missing_charts:
            continue
        if name.startswith("dashboards/"):
            shown = {node["meta"]["uuid"] for node in data.get("position", {}).values()
                     if isinstance(node, dict) and node.get("type") == "CHART"}
            if shown & missing_charts:
                left_out.append(name)
                continue
        selected[name] = text
    return selected, left_out


def _import_assets(files: dict[str, str]) -> None:
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    ImportAssetsCommand(files).run()


def setup() -> dict[str, Any]:
    from flask import g
    from superset import db
    from superset import security_manager as sm
    from superset.models.dashboard import Dashboard

    _upgrade_and_init()
    config = _users()
    if not sm.find_role(OWNER_ROLE):
        sm.add_role(OWNER_ROLE)
    _ensure_users()
    # What the import creates belongs to the admin.
    g.user = sm.find_user(username=_admin_username())
    files = read_bundle()
    # The connection first; the warehouse catalog is then read through it (as the connection's own login: no
    # user is mapped here), and the assets whose relation exists are imported.
    _import_assets({n: t for n, t in files.items() if n == "metadata.yaml" or n.startswith("databases/")})
    selected, left_out = _select_assets(files, _existing_relations())
    for name in left_out:
        log.warning("not imported: %s", name)
    _import_assets(selected)
    _ensure_owner_role(config["owner_dashboards"])
    dashboards = sorted(d.slug for d in db.session.query(Dashboard))
    return {"imported": len(selected), "left_out": left_out, "dashboards": dashboards}


def export() -> dict[str, str]:
    """Every asset Superset holds, as the files of the repository (normalized)."""
    from flask import g
    from superset import security_manager as sm
    from superset.commands.export.assets import ExportAssetsCommand

    g.user = sm.find_user(username=_admin_username())
    return normalize({name: content() for name, content in ExportAssetsCommand().run()})


def ensure_logins(admin_uri: str, database: str | None = None) -> list[str]:
    """The warehouse logins Superset connects as, created or updated through ``admin_uri`` (a role that may
    create roles): the connection's own login ``bi_superset`` (no BI role: reads nothing in Gold) and the
    ``db_login`` of every user of bi/users.yaml, member of its ``db_role``. Passwords come from
    ``DOMOTIC_BI_DB_PASSWORD_<LOGIN>``; without one a login gets none (trust authentication, local only).
    The BI group roles are the warehouse's (its migrations create them): a missing one is an error."""
    import psycopg2
    from psycopg2 import sql

    wanted = [("bi_superset", None)] + [(u["db_login"], u["db_role"]) for u in _users()["users"]]
    done = []
    with psycopg2.connect(admin_uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        database = database or cur.fetchone()[0]
        for login, group in wanted:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(login)))
            if group is not None:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,))
                if cur.fetchone() is None:
                    raise RuntimeError(f"the warehouse has no role {group}: apply its migrations first "
                                       "(python -m domotic.warehouse migrate)")
                cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (login, group))
                if not cur.fetchone()[0]:
                    cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
            password = os.environ.get(f"DOMOTIC_BI_DB_PASSWORD_{login.upper()}")
            if password:
                cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(login), sql.Literal(password)))
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database),
                                                                           sql.Identifier(login)))
            done.append(login)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="upgrade, roles, users, import bi/assets (idempotent)")
    export_cmd = sub.add_parser("export", help="write every asset Superset holds into a folder")
    export_cmd.add_argument("--out", type=Path, default=ASSETS_DIR)
    logins_cmd = sub.add_parser("logins", help="create the warehouse logins of bi/users.yaml (idempotent)")
    logins_cmd.add_argument("--admin-uri", default=os.environ.get("DOMOTIC_BI_WAREHOUSE_ADMIN_URI"),
                            help="libpq URI of a warehouse role that may create roles "
                                 "(default: $DOMOTIC_BI_WAREHOUSE_ADMIN_URI)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "logins":
        if not args.admin_uri:
            parser.error("logins needs --admin-uri or DOMOTIC_BI_WAREHOUSE_ADMIN_URI")
        print(yaml.safe_dump({"logins": ensure_logins(args.admin_uri)}, sort_keys=False), flush=True)
        return 0
    app = _app()
    with app.app_context():
        if args.command == "setup":
            result = setup()
            print(yaml.safe_dump({"setup": result}, sort_keys=False), flush=True)
        else:
            files = export()
            write_bundle(files, args.out)
            print(f"exported {len(files)} files into {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
