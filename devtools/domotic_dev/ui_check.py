"""Check the Airflow UI in a real browser (headless Chromium) and keep a screenshot for docs/.

Logs in through the UI's login form (SimpleAuthManager user), opens the DAG list, checks through the REST API
that there are no import errors, and saves a full-page screenshot. ``make demo`` calls it while its Airflow is
running, so the screenshot shows the demo's successful runs.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def api_token(api_url: str, user: str, password: str) -> str:
    request = urllib.request.Request(f"{api_url}/auth/token", data=json.dumps({"username": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def api_get(api_url: str, path: str, token: str) -> dict:
    request = urllib.request.Request(f"{api_url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def capture(api_url: str, out_png: Path, dag_ids: list[str], user: str = "admin", password: str = "admin",
            chromium: str = "/usr/bin/chromium") -> dict:
    """Log in, open the DAG list, screenshot it; returns what was checked. Raises when a check fails."""
    from playwright.sync_api import sync_playwright

    token = api_token(api_url, user, password)
    import_errors = api_get(api_url, "/api/v2/importErrors", token)
    if import_errors.get("total_entries"):
        raise AssertionError(f"import errors in the UI: {import_errors}")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.goto(f"{api_url}/dags", wait_until="networkidle")
            sign_in = page.get_by_role("button", name="Sign in")
            sign_in.wait_for(timeout=30000)
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill(password)
            sign_in.click()
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30000)
            page.goto(f"{api_url}/dags", wait_until="networkidle")
            try:
                for dag_id in dag_ids:
                    page.get_by_text(dag_id, exact=True).first.wait_for(timeout=30000)
            except Exception:
                page.screenshot(path=str(out_png.with_suffix(".failed.png")), full_page=True)
                raise
            table_view = page.get_by_role("button", name="Show table view")
            if table_view.count():  # the compact list shows every DAG with its last run on one screen
                table_view.first.click()
                page.wait_for_load_state("networkidle")
            out_png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out_png))
        finally:
            browser.close()
    return {"import_errors": 0, "dags_visible": dag_ids, "screenshot": str(out_png)}
