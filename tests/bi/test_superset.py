"""Superset provisioned from bi/ (``make bi-check``): round trip of the assets, every dashboard in a real browser
as the data team and as an owner, tenant isolation by the warehouse, no SQL Lab for owners.

Screenshots of every dashboard land in docs/bi/ (docs/bi.md shows them); the render times of the last run in
var/bi/render-times.json.
"""

from __future__ import annotations

import http.cookiejar
import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from domotic_dev.bi_check import open_dashboards, payload_values
from domotic_dev.services import REPO_ROOT

pytestmark = pytest.mark.bi

ASSETS = REPO_ROOT / "bi" / "assets"
SCREENSHOTS = REPO_ROOT / "docs" / "bi"
OWNER_SLUGS = yaml.safe_load((REPO_ROOT / "bi" / "users.yaml").read_text())["owner_dashboards"]
SLUGS = ["energy", "environment", "presence", "sensor-health", "forecast"]
TIMES = REPO_ROOT / "var" / "bi" / "render-times.json"

# Big-number tiles and the SQL (as role_admin, filtered on one apartment) that must give the same figure.
BIG_NUMBERS = {
    "energy": {
        "Energy (kWh)": ("SELECT sum(energy_kwh) FROM gold.bi_energy_day WHERE apartment_id = %s", ",.2f"),
        "Cost (CHF)": ("SELECT sum(cost_chf) FROM gold.bi_energy_day WHERE apartment_id = %s", ",.2f"),
        "Peak power (W)": ("SELECT max(peak_power_w) FROM gold.bi_energy_hour WHERE apartment_id = %s", ",.0f"),
        "Measured by plugs (kWh)": ("SELECT sum(plug_energy_kwh) FROM gold.bi_energy_day WHERE apartment_id = %s",
                                    ",.2f"),
    },
    "presence": {
        "Occupied hours": ("SELECT sum(occupied_hours) FROM gold.bi_occupancy_hour WHERE apartment_id = %s", ",.1f"),
        "Motion events": ("SELECT sum(motion_events) FROM gold.bi_presence_hour WHERE apartment_id = %s", ",d"),
        "Door openings and closings": (
            "SELECT sum(door_transitions) FROM gold.bi_presence_hour WHERE apartment_id = %s", ",d"),
    },
    "sensor-health": {
        "Uptime (%)": ("SELECT 100.0 * sum(reading_minutes) / sum(covered_minutes) FROM gold.bi_device_health_day"
                       " WHERE apartment_id = %s", ",.1f"),
        "Lowest battery (%)": ("SELECT min(battery_min_pct) FROM gold.bi_device_health_day WHERE apartment_id = %s",
                               ",.0f"),
        "Outlier readings": ("SELECT sum(outlier_count) FROM gold.bi_device_health_day WHERE apartment_id = %s", ",d"),
    },
}


def fmt(value: float, spec: str) -> str:
    return f"{int(value):,}" if spec == ",d" else format(float(value), spec[:-1] + "f" if spec.endswith("f") else spec)


def expected_slugs(stack) -> list[str]:
    return SLUGS if stack.query("SELECT to_regclass('gold.bi_forecast_hour') IS NOT NULL")[0][0] else SLUGS[:4]


def big_number(view, title: str) -> str:
    tile = next(t for t in view.tiles if t.title == title)
    return tile.text.split("\n")[1].strip()


def record_times(user: str, views) -> None:
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    times[user] = {v.slug: v.seconds for v in views}
    TIMES.write_text(json.dumps(times, indent=2))


def check_rendered(views) -> None:
    for view in views:
        assert view.status == 200 and "/superset/dashboard/" in view.url, (view.slug, view.status, view.url)
        assert view.tiles, f"{view.slug}: no chart tile on the page"
        assert not view.errors, f"{view.slug}: error tiles {view.errors}"
        assert not view.empty, f"{view.slug}: tiles without data {view.empty}"
        failed = [p for p in view.payloads if "result" not in p]
        assert not failed, f"{view.slug}: chart data requests failed: {failed[:2]}"


# ------------------------------------------------------------------------------------------------ as code


def test_export_after_import_equals_the_repository_files(bi_stack):
    """Export what Superset holds after importing bi/assets: the same files, byte for byte (ids normalized)."""
    out = Path(tempfile.mkdtemp(prefix="bi-export-"))
    bi_stack.superset.export(out)
    exported = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.yaml"))}
    repo = {str(p.relative_to(ASSETS)): p.read_text() for p in sorted(ASSETS.rglob("*.yaml"))}
    assert sorted(exported) == sorted(repo)
    for name in repo:
        assert exported[name] == repo[name], f"{name} differs after import + export"


def test_import_is_idempotent(bi_stack):
    """A second provisioning (every `make bi` start) changes nothing: the export is still the repository's."""
    bi_stack.superset.provision()
    out = Path(tempfile.mkdtemp(prefix="bi-export-"))
    bi_stack.superset.export(out)
    exported = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.yaml"))}
    repo = {str(p.relative_to(ASSETS)): p.read_text() for p in sorted(ASSETS.rglob("*.yaml"))}
    assert exported == repo


# ---------------------------------------------------------------------------------------- in a real browser


def test_every_dashboard_renders_with_data_as_admin(bi_stack):
    slugs = expected_slugs(bi_stack)
    views = open_dashboards(bi_stack.superset.url, "admin", "admin", slugs, screenshots=SCREENSHOTS)
    record_times("admin", views)
    check_rendered(views)
    assert [v.slug for v in views] == slugs
    by_slug = {v.slug: v for v in views}
    # The data team sees both apartments, and the totals of both.
    values = [str(x) for p in by_slug["energy"].payloads for x in payload_values(p)]
    assert {"jimmy", "jeremie"} <= set(values)
    for slug, tiles in BIG_NUMBERS.items():
        for title, (sql, spec) in tiles.items():
            both = bi_stack.query(sql.replace("apartment_id = %s", "apartment_id IN (%s, 'jeremie')"), ("jimmy",))
            assert big_number(by_slug[slug], title) == fmt(both[0][0], spec), (slug, title)


def test_every_dashboard_renders_only_jimmys_data_as_jimmy(bi_stack):
    slugs = expected_slugs(bi_stack)
    views = open_dashboards(bi_stack.superset.url, "jimmy", "jimmy", slugs, screenshots=SCREENSHOTS)
    record_times("jimmy", views)
    check_rendered(views)
    for view in views:
        # No jeremie value reached the browser: not in any chart's data, not on the page.
        for payload in view.payloads:
            for result in payload.get("result", []):
                for row in result.get("data") or []:
                    assert row.get("apartment_id", "jimmy") == "jimmy", (view.slug, row)
            assert "jeremie" not in json.dumps(payload).lower(), view.slug
        assert "jeremie" not in view.page_text.lower(), view.slug
    by_slug = {v.slug: v for v in views}
    # Every figure equals SQL run as role_admin on jimmy's rows, and (where they differ) not the total.
    differs = 0
    for slug, tiles in BIG_NUMBERS.items():
        for title, (sql, spec) in tiles.items():
            jimmy = bi_stack.query(sql, ("jimmy",))[0][0]
            total = bi_stack.query(sql.replace("apartment_id = %s", "apartment_id IN (%s, 'jeremie')"), ("jimmy",))
            assert big_number(by_slug[slug], title) == fmt(jimmy, spec), (slug, title)
            differs += fmt(jimmy, spec) != fmt(total[0][0], spec)
    assert differs >= 5, "jimmy's figures should differ from the totals of both apartments"


# ------------------------------------------------------------------------------------------- access rules


class Client:
    """Superset's REST API as one user: JWT + session cookie + CSRF token (POST endpoints need both)."""

    def __init__(self, url: str, user: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = self.call("POST", "/api/v1/security/login",
                               {"username": user, "password": user, "provider": "db"})[1]["access_token"]
        self.csrf = self.call("GET", "/api/v1/security/csrf_token/")[1]["result"]

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", "Referer": self.url + "/sqllab/"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        if getattr(self, "csrf", None):
            headers["X-CSRFToken"] = self.csrf
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body else None,
                                         headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, {"error": error.read().decode(errors="replace")[:500]}


def _execute(client: Client, database_id: int, sql: str) -> tuple[int, dict]:
    return client.call("POST", "/api/v1/sqllab/execute/",
                       {"database_id": database_id, "sql": sql, "runAsync": False, "schema": "gold",
                        "client_id": f"t{abs(hash(sql)) % 10**8}", "queryLimit": 100})


def test_owners_see_only_their_dashboards_and_no_sql_lab(bi_stack):
    jimmy = Client(bi_stack.superset.url, "jimmy")
    status, dashboards = jimmy.call("GET", "/api/v1/dashboard/?q=(page_size:100)")
    assert status == 200
    assert {d["slug"] for d in dashboards["result"]} == set(expected_slugs(bi_stack)) & set(OWNER_SLUGS)
    status, roles = jimmy.call("GET", "/api/v1/me/roles/")
    assert status == 200
    permissions = [tuple(p) for perms in roles["result"]["roles"].values() for p in perms]
    assert permissions, roles
    assert not [p for p in permissions if "sql" in p[1].lower() and p[1] != "SqlMetricInlineView"], permissions
    assert not [p for p in permissions if p[0] in ("can_write", "can_export") and p[1] in ("Chart", "Dashboard")]
    database_id = Client(bi_stack.superset.url, "admin").call("GET", "/api/v1/database/")[1]["result"][0]["id"]
    status, answer = _execute(jimmy, database_id, "SELECT 1")
    assert status in (401, 403), (status, answer)


def test_sql_lab_of_the_data_team_runs_as_its_warehouse_role(bi_stack):
    admin = Client(bi_stack.superset.url, "admin")
    database_id = admin.call("GET", "/api/v1/database/")[1]["result"][0]["id"]
    # (Superset refuses current_user and the system views in SQL Lab: the role shows by what it may read.)
    status, answer = _execute(admin, database_id,
                              "SELECT count(DISTINCT apartment_id) AS apartments FROM gold.bi_energy_hour")
    assert status == 200, answer
    assert answer["data"] == [{"apartments": 2}]
    # Bound by role_admin: Gold only. The pipeline's Silver tables, readable by the connection's superuser,
    # are not readable by bi_admin.
    status, answer = _execute(admin, database_id, "SELECT count(*) FROM silver.sensor_readings")
    assert status != 200 and "permission denied" in json.dumps(answer), answer
