"""Check the Airflow UI in a real browser (headless Chromium) and keep a screenshot for docs/.

Logs in through the UI's login form (SimpleAuthManager user), opens the DAG list, checks through the REST API
that there are no import errors, and saves a full-page screenshot. ``make demo`` calls it while its Airflow is
running, so the screenshot shows the demo's successful runs.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from urllib.parse import quote

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


class UiTour:
    """A logged-in browser page that records every HTTP response >= 500 the UI receives."""

    def __init__(self, page, api_url: str, out_dir: Path) -> None:
        self.page, self.api_url, self.out_dir = page, api_url, out_dir
        self.server_errors: list[str] = []
        page.on("response", lambda r: self.server_errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    def login(self, user: str, password: str) -> None:
        page = self.page
        page.goto(f"{self.api_url}/dags", wait_until="networkidle")
        sign_in = page.get_by_role("button", name="Sign in")
        sign_in.wait_for(timeout=30000)
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(password)
        sign_in.click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30000)

    def open(self, path: str) -> None:
        self.page.goto(f"{self.api_url}{path}", wait_until="networkidle")

    def shot(self, name: str) -> str:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = self.out_dir / name
        self.page.screenshot(path=str(target))
        return str(target)

    def graph_nodes(self, at_least: int) -> int:
        nodes = self.page.locator(".react-flow__node")
        nodes.nth(at_least - 1).wait_for(timeout=30000)
        return nodes.count()

    def dag_list(self, dag_ids: list[str]) -> str:
        self.open("/dags")
        for dag_id in dag_ids:
            self.page.get_by_text(dag_id, exact=True).first.wait_for(timeout=30000)
        table_view = self.page.get_by_role("button", name="Show table view")
        if table_view.count():  # the compact list shows every DAG with its last run on one screen
            table_view.first.click()
            self.page.wait_for_load_state("networkidle")
        return self.shot("airflow-ui-dags.png")

    def dag_docs(self, dag_id: str, screenshot: str | None = None) -> None:
        """The DAG's doc page (its module docstring) opens and names the DAG in its title."""
        self.open(f"/dags/{dag_id}")
        self.page.get_by_role("button", name="Dag Docs").click()
        self.page.get_by_role("heading", name=f"{dag_id}:").first.wait_for(timeout=30000)
        if screenshot:
            self.shot(screenshot)
        self.page.keyboard.press("Escape")

    def dag_graph(self, dag_id: str) -> int:
        self.open(f"/dags/{dag_id}")
        self.page.get_by_role("button", name="Show Graph (Press g)").click()
        count = self.graph_nodes(4)
        self.shot(f"airflow-ui-{dag_id}-graph.png")
        return count

    def asset_graph(self, asset_id: int) -> int:
        """The asset "Scheduling" graph (served by /ui/dependencies) shows the DAGs and assets around it."""
        self.open(f"/assets/{asset_id}")
        count = self.graph_nodes(5)
        self.shot("airflow-ui-assets.png")
        return count

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> None:
        self.open(f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}")
        self.page.get_by_text(task_id).first.wait_for(timeout=30000)
        # Log lines rendered: a visible level badge of a line (the level filter's options are hidden ones)
        self.page.locator("span", has_text="INFO").locator("visible=true").first.wait_for(timeout=30000)
        self.shot("airflow-ui-task-log.png")


def capture(api_url: str, out_png: Path, dag_ids: list[str], user: str = "admin", password: str = "admin",
            chromium: str = "/usr/bin/chromium") -> dict:
    """The tour of the UI an operator takes: the DAG list, each DAG's docs, gold_build's graph, the asset
    dependency graph and one task log. Raises when a page fails, or when the UI saw any HTTP status >= 500.
    Screenshots go next to ``out_png`` (the DAG list is ``out_png`` itself)."""
    from playwright.sync_api import sync_playwright

    token = api_token(api_url, user, password)
    import_errors = api_get(api_url, "/api/v2/importErrors", token)
    if import_errors.get("total_entries"):
        raise AssertionError(f"import errors in the UI: {import_errors}")
    assets = {a["name"]: a["id"] for a in api_get(api_url, "/api/v2/assets?limit=100", token)["assets"]}
    # The log of a Gold build that did the work: the latest successful run whose build_gold ran (a run woken by
    # an event whose change an earlier run already absorbed skips it, and its log is one line).
    recent = api_get(api_url, "/api/v2/dags/gold_build/dagRuns?state=success&limit=20&order_by=-run_after",
                     token)["dag_runs"]
    runs = [run for run in recent if api_get(
        api_url, f"/api/v2/dags/gold_build/dagRuns/{quote(run['dag_run_id'], safe='')}/taskInstances/build_gold",
        token).get("state") == "success"][:1]
    every_dag = sorted(d["dag_id"] for d in api_get(api_url, "/api/v2/dags?limit=100", token)["dags"])
    checked: dict = {"import_errors": 0, "dags_visible": dag_ids}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            tour = UiTour(browser.new_page(viewport={"width": 1500, "height": 950}), api_url, out_png.parent)
            tour.login(user, password)
            try:
                checked["screenshot"] = tour.dag_list(dag_ids)
                for dag_id in every_dag:
                    tour.dag_docs(dag_id, "airflow-ui-gold-docs.png" if dag_id == "gold_build" else None)
                checked["docs_opened"] = len(every_dag)
                if "gold_build" in dag_ids:
                    checked["gold_graph_nodes"] = tour.dag_graph("gold_build")
                checked["asset_graph_nodes"] = tour.asset_graph(assets["silver_sensor_readings"])
                if runs:
                    tour.task_log("gold_build", runs[0]["dag_run_id"], "build_gold")
                    checked["task_log"] = runs[0]["dag_run_id"]
            except Exception:
                tour.shot(out_png.with_suffix(".failed.png").name)
                raise
            if tour.server_errors:
                raise AssertionError(f"the UI received server errors: {tour.server_errors}")
        finally:
            browser.close()
    return checked
