"""The manager pages in a real headless chromium against a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.forecasting.models import ForecastAdjustment
from tests.seed import PASSWORD, run_db
from tests.server.web.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def _stored_adjustments(url: str) -> list[tuple[float, str]]:
    async def read(session: AsyncSession) -> list[tuple[float, str]]:
        rows = await session.execute(
            select(ForecastAdjustment.adjusted_value, ForecastAdjustment.reason)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]

    # Playwright's sync API keeps an event loop running on this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run_db, url, read).result()


def _sign_in(page: Any, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/manager")
    assert "/manager/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_a_manager_adjusts_a_forecast_and_sees_it_after_reload(
    live_server: LiveServer, browser_page: Any, artifacts_dir: Path
) -> None:
    page = browser_page
    _sign_in(page, live_server, "mgr_north")
    assert page.text_content("[data-testid=region-name]") == "North"
    # Drawn twice, wide and narrow; the desk shows the wide one.
    assert page.locator("svg.chart.wide path.forecast").count() == 1
    assert page.locator("svg.chart.wide path.band").is_visible()
    assert not page.locator("svg.chart.narrow path.band").is_visible()

    page.select_option("select[name=forecast_id]", index=1)
    page.fill("input[name=value]", "24500")
    page.fill("textarea[name=reason]", "Trade fair order confirmed by the customer")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Adjustment saved" in page.text_content(".notice.ok")

    page.reload()
    page.wait_for_load_state("networkidle")
    assert "€24,500" in page.text_content("[data-testid=adjusted-2025-07]")
    assert "Trade fair order confirmed" in page.text_content("[data-testid=history]")
    page.screenshot(path=str(artifacts_dir / "manager-overview.png"), full_page=True)

    assert _stored_adjustments(live_server.store.url) == [
        (24500.0, "Trade fair order confirmed by the customer")
    ]


def test_a_manager_drills_into_a_rep_with_a_map_of_check_ins(
    live_server: LiveServer, browser_page: Any, artifacts_dir: Path
) -> None:
    page = browser_page
    _sign_in(page, live_server, "mgr_north")
    page.click("table[data-testid=reps] a >> text=Rep Hamburg")
    page.wait_for_load_state("networkidle")
    assert page.locator("svg.map circle.pt-flagged").count() == 1
    assert page.locator("svg.map circle.pt-verified").count() == 8
    assert "far from account" in page.text_content("main")
    page.screenshot(path=str(artifacts_dir / "manager-rep.png"), full_page=True)


def test_a_rep_signing_in_gets_the_403_page_and_no_session(
    live_server: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    _sign_in(page, live_server, "rep_n1")
    assert "Not for your role" in page.text_content("h1")
    names = [cookie["name"] for cookie in page.context.cookies()]
    assert "fieldline_session" not in names and "fieldline_refresh" not in names
