"""The manager pages under the server's content security policy, in a real headless chromium:
nothing on them is blocked by it (every script and style they use is allowed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import live
from tests.seed import PASSWORD
from tests.server.forecasting.history import seed_field_activity
from tests.server.forecasting.world import forecast_world
from tests.server.web.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.stores import StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def warm_server(
    store_factory: StoreFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """As the browser tests' server, with its pool opened at start-up as in production: the
    lookup cache's first connection, opened off the event loop on an empty SQLite pool, can
    fail (MissingGreenlet in server/db/lookup.py), a race this test is not about."""
    store = store_factory.sqlite()
    try:
        world = forecast_world(store.url, past_runs=6)
        seed_field_activity(store.url, world, "rep_n1")
        env = {"FIELDLINE_DB_POOL_WARM": "4"}
        with live.live_server(store.url, tmp_path_factory.mktemp("csp"), env=env) as server:
            yield LiveServer(url=server.url, store=store, world=world)
    finally:
        store_factory.drop(store)


@pytest.fixture
def page_and_violations() -> Iterator[tuple[Any, list[str]]]:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(15_000)
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            yield page, violations
        finally:
            browser.close()


def test_the_manager_pages_run_under_the_policy_with_nothing_blocked(
    warm_server: LiveServer, page_and_violations: tuple[Any, list[str]]
) -> None:
    page, violations = page_and_violations
    page.goto(f"{warm_server.url}/manager")
    page.fill("input[name=username]", "mgr_north")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.text_content("[data-testid=region-name]") == "North"  # signed in
    page.click("table[data-testid=reps] a >> text=Rep Hamburg")
    page.wait_for_load_state("networkidle")
    for path in ("/manager/sync", "/manager/orders", "/manager/visits", "/manager/tickets"):
        page.goto(f"{warm_server.url}{path}")
        page.wait_for_load_state("networkidle")
    # The API reference's viewer starts with an inline script its own policy allows.
    page.goto(f"{warm_server.url}/schema")
    page.wait_for_selector(".opblock")
    assert violations == []


def test_the_api_reference_runs_under_its_policy_with_nothing_blocked(
    warm_server: LiveServer, page_and_violations: tuple[Any, list[str]]
) -> None:
    page, violations = page_and_violations
    page.goto(f"{warm_server.url}/schema")
    page.wait_for_selector(".swagger-ui .opblock")  # the viewer ran and read the schema
    assert violations == []
