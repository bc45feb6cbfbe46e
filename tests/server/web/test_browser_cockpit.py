"""The cockpit in a real headless Chromium against a real server, on a desk (1280×800) and on a
phone (390×844): every page fits the screen with no horizontal scroll, chart text stays
readable, every text meets WCAG AA contrast (4.5:1), a skip link leads to the content, and the
API reference works with no network. Screenshots of every page at both sizes are kept in
test-artifacts/, and the pages' load times in test-artifacts/cockpit-timings.json."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import Order
from server.targets.models import Target
from tests.seed import PASSWORD, run_db
from tests.server.web.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
MIN_CHART_TEXT_PX = 10.0
MIN_CONTRAST = 4.5

# For every visible element that holds text of its own: its colour against the first opaque
# background behind it (alpha composited), as WCAG computes contrast.
_CONTRAST_JS = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let out = [255, 255, 255];
    for (const c of layers.reverse()) out = out.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
    return out; };
  const failures = []; let checked = 0; let lowest = 99;
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg')) continue;
    if (['SCRIPT', 'STYLE', 'OPTION', 'NOSCRIPT'].includes(el.tagName)) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const rect = el.getBoundingClientRect(); const style = getComputedStyle(el);
    // Off-screen or screen-reader-only text (1 px boxes) is not seen.
    if (rect.width < 2 || rect.height < 2) continue;
    if (style.visibility === 'hidden' || +style.opacity === 0) continue;
    if (el.classList.contains('skip-link') && rect.bottom <= 0) continue;
    const fg = parse(style.color); const bg = background(el);
    const mixed = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
    const [a, b] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05); checked += 1; lowest = Math.min(lowest, ratio);
    if (ratio < 4.5) failures.push({text: el.textContent.trim().slice(0, 40), cls: el.className,
      ratio: Math.round(ratio * 100) / 100});
  }
  return {checked, lowest, failures: failures.slice(0, 10)};
}
"""

# The rendered size of every chart label a person can see: its font size in the SVG's units
# times the scale the browser draws the SVG at.
_CHART_TEXT_JS = """
() => { const sizes = [];
  for (const t of document.querySelectorAll('svg text')) {
    const svg = t.ownerSVGElement; const box = svg.getBoundingClientRect();
    if (!box.width || getComputedStyle(svg).display === 'none') continue;
    if (!svg.viewBox.baseVal.width) continue;
    sizes.push(parseFloat(getComputedStyle(t).fontSize) * box.width / svg.viewBox.baseVal.width);
  }
  return sizes; }
"""


@pytest.fixture(scope="module")
def cockpit(live_server: LiveServer) -> LiveServer:
    """This month's targets for the North's reps and a few of this month's orders."""
    world = live_server.world
    now = datetime.now(UTC)
    month = date(now.year, now.month, 1)

    async def work(session: AsyncSession) -> None:
        for username, amount in (("rep_n1", 12_000.0), ("rep_n2", 9_000.0)):
            session.add(
                Target(
                    scope_type="rep",
                    scope_id=world.user(username),
                    region_id=world.regions["NORTH"],
                    month=month,
                    amount=amount,
                )
            )
            session.add(
                Order(
                    account_id=world.accounts[username.split("_")[1].upper()][0],
                    rep_id=world.user(username),
                    status="submitted",
                    total=Decimal("1500"),
                    submitted_at=datetime(month.year, month.month, 1, 8, tzinfo=UTC),
                )
            )

    run_db(live_server.store.url, work)
    return live_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _signed_in(browser: Any, server: LiveServer, viewport: tuple[int, int]) -> Any:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}/manager/login")
    page.fill("input[name=username]", "mgr_north")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _pages(server: LiveServer) -> dict[str, str]:
    return {
        "overview": "/manager",
        "rep": f"/manager/reps/{server.world.user('rep_n1')}",
        "orders": "/manager/orders",
        "visits": "/manager/visits",
        "tickets": "/manager/tickets",
        "devices": "/manager/sync",
    }


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_page_fits_the_screen_is_readable_and_meets_aa_contrast(
    cockpit: LiveServer, browser: Any, artifacts_dir: Path, size: str
) -> None:
    width, height = VIEWPORTS[size]
    page = _signed_in(browser, cockpit, (width, height))
    timings: dict[str, float] = {}
    problems: list[str] = []
    for name, path in _pages(cockpit).items():
        started = time.perf_counter()
        response = page.goto(f"{cockpit.url}{path}", wait_until="load")
        timings[name] = round((time.perf_counter() - started) * 1000)
        page.wait_for_load_state("networkidle")
        assert response is not None and response.status == 200, (name, response)
        page.screenshot(path=str(artifacts_dir / f"cockpit-{name}-{size}.png"), full_page=True)

        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            problems.append(f"{name}: page is {scroll_width} px wide at {width} px")
        for selector in (".who .user", ".who button"):
            box = page.locator(selector).bounding_box()
            if box is None or box["x"] + box["width"] > width:
                problems.append(f"{name}: {selector} is off the screen ({box})")
        sizes = page.evaluate(_CHART_TEXT_JS)
        if sizes and min(sizes) < MIN_CHART_TEXT_PX:
            problems.append(f"{name}: chart text drawn at {min(sizes):.1f} px")
        filled = page.evaluate(
            "[...document.querySelectorAll('svg path.actual, svg path.expected, svg path.past')]"
            ".filter(p => getComputedStyle(p).fill !== 'none').length"
        )
        if filled:
            problems.append(f"{name}: {filled} chart lines drawn as filled shapes")
        contrast = page.evaluate(_CONTRAST_JS)
        assert contrast["checked"] > 20, name
        if contrast["failures"]:
            problems.append(f"{name}: contrast below {MIN_CONTRAST}: {contrast['failures']}")
    page.context.close()
    timings_file = artifacts_dir / "cockpit-timings.json"
    recorded = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    recorded[size] = timings
    timings_file.write_text(json.dumps(recorded, indent=2))
    assert problems == [], "\n".join(problems)


def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(
    cockpit: LiveServer, browser: Any
) -> None:
    page = _signed_in(browser, cockpit, VIEWPORTS["phone"])
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.className, document.activeElement.href]")
    assert focused[0] == "skip-link" and focused[1].endswith("#main")
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.context.close()


def test_the_reps_table_sorts_by_a_click_on_its_heading(
    cockpit: LiveServer, browser: Any, artifacts_dir: Path
) -> None:
    page = _signed_in(browser, cockpit, VIEWPORTS["desktop"])
    statuses = page.eval_on_selector_all(
        "table[data-testid=reps] tbody tr", "rows => rows.map(r => r.dataset.status)"
    )
    assert statuses[0] in ("behind", "on track")  # the furthest behind leads
    page.click("table[data-testid=reps] th >> text=Rep")
    page.wait_for_load_state("networkidle")
    names = page.eval_on_selector_all(
        "table[data-testid=reps] tbody tr", "rows => rows.map(r => r.dataset.rep)"
    )
    assert names == sorted(names)
    page.click("table[data-testid=reps] th >> text=Rep")
    page.wait_for_load_state("networkidle")
    names_desc = page.eval_on_selector_all(
        "table[data-testid=reps] tbody tr", "rows => rows.map(r => r.dataset.rep)"
    )
    assert names_desc == sorted(names, reverse=True)
    page.context.close()


def test_the_api_reference_renders_with_no_network(cockpit: LiveServer, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(cockpit.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{cockpit.url}/schema")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 50
    assert outside == []
    context.close()
