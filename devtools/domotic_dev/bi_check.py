"""Open Superset dashboards in a real browser (headless Chromium driven by Playwright) and report what rendered.

``open_dashboards`` logs in through Superset's login form as one user, opens each dashboard by slug, waits until
every chart tile has rendered (an SVG, a canvas or a table, no loading indicator) or shows an error, and
returns per dashboard: the seconds from navigation to the last tile rendered, each tile's title and text,
error tiles, and every chart-data payload the browser received (``/api/v1/chart/data``), so a caller can check
which rows reached the page. It keeps a screenshot per dashboard when asked. Used by tests/bi/.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domotic_dev.ui_check import CHROMIUM_ARGS

TILE = '[data-test="dashboard-component-chart-holder"]'
# A tile is rendered when it holds a drawing or a table; loading and error states have none.
RENDERED = "svg, canvas, table"
LOADING = '[data-test="loading-indicator"], .loading'
ERROR = '[data-test="alert"], .alert-danger, [role="alert"], [data-test="error-tooltip"]'
# What Superset shows instead of a chart when the query returns no row.
EMPTY_TEXTS = ("No results were returned for this query", "No data")


@dataclass
class Tile:
    title: str
    text: str
    rendered: bool
    error: str | None


@dataclass
class DashboardView:
    slug: str
    url: str
    seconds: float
    tiles: list[Tile]
    page_text: str
    payloads: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    screenshot: str | None = None

    @property
    def errors(self) -> list[str]:
        return [f"{t.title}: {t.error}" for t in self.tiles if t.error]

    @property
    def empty(self) -> list[str]:
        return [t.title for t in self.tiles if not t.rendered or any(e in t.text for e in EMPTY_TEXTS)]


def _tiles(page: Any) -> list[Tile]:
    tiles = []
    for holder in page.locator(TILE).all():
        text = holder.inner_text()
        title = text.split("\n", 1)[0].strip()
        error = None
        if holder.locator(ERROR).count():
            error = holder.locator(ERROR).first.inner_text()[:300] or "error tile"
        rendered = holder.locator(RENDERED).count() > 0 and holder.locator(LOADING).count() == 0
        tiles.append(Tile(title, text, rendered, error))
    return tiles


def _settled(page: Any) -> bool:
    holders = page.locator(TILE)
    count = holders.count()
    if count == 0:
        return False
    for i in range(count):
        holder = holders.nth(i)
        if holder.locator(LOADING).count():
            return False
        if not holder.locator(RENDERED).count() and not holder.locator(ERROR).count() \
                and not any(e in holder.inner_text() for e in EMPTY_TEXTS):
            return False
    return True


def open_dashboards(url: str, user: str, password: str, slugs: list[str], *, screenshots: Path | None = None,
                    chromium: str = "/usr/bin/chromium", timeout: float = 60) -> list[DashboardView]:
    """Log in as ``user`` and open every dashboard of ``slugs`` (see the module doc)."""
    from playwright.sync_api import sync_playwright

    views = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/login/", wait_until="networkidle")
            page.fill("#username", user)
            page.fill("#password", password)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda current: "/login" not in current, timeout=30000)
            payloads: list[dict[str, Any]] = []

            def on_response(response: Any) -> None:
                if "/api/v1/chart/data" in response.url and response.request.method == "POST":
                    try:
                        payloads.append(response.json())
                    except (ValueError, json.JSONDecodeError):
                        payloads.append({"status": response.status, "text": response.text()[:500]})

            page.on("response", on_response)
            for slug in slugs:
                payloads.clear()
                target = f"{url}/superset/dashboard/{slug}/"
                started = time.monotonic()
                response = page.goto(target)
                status = response.status if response is not None else 0
                deadline = started + timeout
                while time.monotonic() < deadline and not (status == 200 and _settled(page)):
                    if "/dashboard/" not in page.url:  # redirected away: no access
                        break
                    page.wait_for_timeout(50)
                seconds = time.monotonic() - started
                page.wait_for_timeout(1500)  # charts animate their drawing: let it finish before the screenshot
                shot = None
                if screenshots is not None:
                    screenshots.mkdir(parents=True, exist_ok=True)
                    shot = str(screenshots / f"{slug}-{user}.png")
                    page.screenshot(path=shot, full_page=True)
                views.append(DashboardView(slug, page.url, round(seconds, 2), _tiles(page), page.inner_text("body"),
                                           list(payloads), status, shot))
        finally:
            browser.close()
    return views


def payload_values(payload: dict[str, Any]) -> list[Any]:
    """Every value of every row of a chart-data response (each query's ``data``)."""
    values = []
    for result in payload.get("result", []):
        for row in result.get("data") or []:
            values.extend(row.values() if isinstance(row, dict) else row)
    return values
