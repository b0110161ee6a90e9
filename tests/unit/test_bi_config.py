"""bi/superset_config.py and the versioned assets of bi/ (no Superset needed: the files are read as they are).

The config's connection mutator decides which warehouse login every Superset query runs as; the assets must be
in the exact form an export gives (so the round trip of ``make bi-check`` can hold) and reference only what the
repository defines.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]
BI = REPO / "bi"
ASSETS = BI / "assets"


def load(path: Path, name: str, monkeypatch: pytest.MonkeyPatch, **env: str):
    for key in ("SUPERSET_SECRET_KEY", "DOMOTIC_BI_LOCAL_DEV", "DOMOTIC_BI_WAREHOUSE_HOST",
                "DOMOTIC_BI_WAREHOUSE_PORT", "DOMOTIC_BI_WAREHOUSE_DB"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def config(monkeypatch, tmp_path, **env):
    return load(BI / "superset_config.py", "superset_config_under_test", monkeypatch,
                DOMOTIC_BI_HOME=str(tmp_path), **env)


def provision(monkeypatch):
    return load(BI / "provision.py", "bi_provision_under_test", monkeypatch)


def test_no_secret_key_outside_local_development(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match="SUPERSET_SECRET_KEY"):
        config(monkeypatch, tmp_path)
    assert config(monkeypatch, tmp_path, SUPERSET_SECRET_KEY="from-the-environment").SECRET_KEY == "from-the-environment"
    # Local development: a random key, generated once and kept (never one written in the code).
    first = config(monkeypatch, tmp_path, DOMOTIC_BI_LOCAL_DEV="1").SECRET_KEY
    assert len(first) >= 40 and first == config(monkeypatch, tmp_path, DOMOTIC_BI_LOCAL_DEV="1").SECRET_KEY
    assert first not in (BI / "superset_config.py").read_text()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_every_user_queries_as_its_own_warehouse_login(monkeypatch, tmp_path):
    cfg = config(monkeypatch, tmp_path, SUPERSET_SECRET_KEY="k", DOMOTIC_BI_DB_PASSWORD_BI_JIMMY="s3cret")
    stored = make_url("postgresql+psycopg2://bi_superset@warehouse:5432/domotic")
    mutate = cfg.DB_CONNECTION_MUTATOR
    assert mutate(stored, {}, "jimmy", None, None)[0].render_as_string(hide_password=False) == \
        "postgresql+psycopg2://bi_jimmy:s3cret@warehouse:5432/domotic"
    assert mutate(stored, {}, "jeremie", None, None)[0].username == "bi_jeremie"
    assert mutate(stored, {}, "admin", None, None)[0].username == "bi_admin"
    # Nobody logged in, or a user the file does not know: the connection's own login, which reads nothing.
    assert mutate(stored, {}, None, None, None)[0].username == "bi_superset"
    assert mutate(stored, {}, "mallory", None, None)[0].username == "bi_superset"
    users = yaml.safe_load((BI / "users.yaml").read_text())["users"]
    assert {u["username"]: (u["db_login"], u["db_role"]) for u in users} == {
        "admin": ("bi_admin", "role_admin"), "jimmy": ("bi_jimmy", "role_jimmy"),
        "jeremie": ("bi_jeremie", "role_jeremie")}


def test_the_warehouse_location_comes_from_the_environment(monkeypatch, tmp_path):
    cfg = config(monkeypatch, tmp_path, SUPERSET_SECRET_KEY="k", DOMOTIC_BI_WAREHOUSE_HOST="127.0.0.1",
                 DOMOTIC_BI_WAREHOUSE_PORT="6543", DOMOTIC_BI_WAREHOUSE_DB="domotic_bi")
    url, _ = cfg.DB_CONNECTION_MUTATOR(make_url("postgresql+psycopg2://bi_superset@warehouse:5432/domotic"), {},
                                       "jimmy", None, None)
    assert (url.host, url.port, url.database, url.username) == ("127.0.0.1", 6543, "domotic_bi", "bi_jimmy")


def test_assets_are_in_their_exported_form(monkeypatch):
    prov = provision(monkeypatch)
    files = prov.read_bundle(ASSETS)
    assert prov.normalize(files) == files, "bi/assets must be as `make bi-export` writes them"
    assert not re.search(r"chartId: (\d{3,})", "".join(files.values())), "chart ids must be normalized"


def test_assets_reference_what_the_repository_defines(monkeypatch):
    prov = provision(monkeypatch)
    files = {name: yaml.safe_load(text) for name, text in prov.read_bundle(ASSETS).items()}
    databases = {d["uuid"]: d for n, d in files.items() if n.startswith("databases/")}
    datasets = {d["uuid"]: d for n, d in files.items() if n.startswith("datasets/")}
    charts = {d["uuid"]: d for n, d in files.items() if n.startswith("charts/")}
    dashboards = [d for n, d in files.items() if n.startswith("dashboards/")]
    (database,) = databases.values()
    assert make_url(database["sqlalchemy_uri"]).password is None, "no secret in the versioned connection"
    assert not database["allow_dml"] and not database["allow_csv_upload"] and not database["allow_ctas"]
    migrations = "".join(p.read_text() for p in (REPO / "include" / "sql" / "migrations").rglob("*.sql"))
    for dataset in datasets.values():
        assert dataset["database_uuid"] in databases
        assert re.search(rf"VIEW gold\.{dataset['table_name']}\b", migrations), dataset["table_name"]
        for metric in dataset["metrics"]:
            assert metric["description"] and metric["verbose_name"], (dataset["table_name"], metric["metric_name"])
    for chart in charts.values():
        assert chart["dataset_uuid"] in datasets, chart["slice_name"]
        params = chart["params"]
        names = {m["metric_name"] for m in datasets[chart["dataset_uuid"]]["metrics"]}
        used = params.get("metrics") or [params.get("metric")]
        assert set(used) <= names, (chart["slice_name"], used)
    slugs = {d["slug"] for d in dashboards}
    assert slugs == {"energy", "environment", "presence", "sensor-health", "forecast"}
    for dashboard in dashboards:
        shown = [n["meta"]["uuid"] for n in dashboard["position"].values()
                 if isinstance(n, dict) and n.get("type") == "CHART"]
        assert shown and set(shown) <= set(charts), dashboard["slug"]
        assert dashboard["published"], dashboard["slug"]
    owner = yaml.safe_load((BI / "users.yaml").read_text())["owner_dashboards"]
    assert set(owner) <= slugs


def test_a_missing_view_leaves_out_its_dataset_charts_and_dashboards(monkeypatch):
    prov = provision(monkeypatch)
    files = prov.read_bundle(ASSETS)
    every = {("gold", yaml.safe_load(t)["table_name"]) for n, t in files.items() if n.startswith("datasets/")}
    selected, left_out = prov._select_assets(files, every)
    assert selected == files and not left_out
    selected, left_out = prov._select_assets(files, every - {("gold", "bi_forecast_hour")})
    assert "dashboards/Forecast.yaml" in left_out and "dashboards/Forecast.yaml" not in selected
    assert {n for n in selected if n.startswith("dashboards/")} == {
        "dashboards/Energy.yaml", "dashboards/Environment.yaml", "dashboards/Presence.yaml",
        "dashboards/Sensor_Health.yaml"}
    assert not [n for n, t in selected.items() if "bi_forecast_hour" in t]
