"""Headless Chromium (Debian's `chromium`, driven by Playwright) with the tool inside a cross-site LMS iframe.

The LMS is the independent test platform served at http://localhost:<port>; the tool is served at
http://127.0.0.1:<port> — a different site, so the tool's frame is third-party, as in a real LMS.
Chromium runs with third-party cookies blocked. Screenshots go to build/screenshots/.
Every page a test reaches is checked with axe-core (`assert_accessible`; `npm ci` installs it, `make test` runs it).
Set REQUIRE_BROWSER=1 (CI does) to fail instead of skip when Chromium or axe-core is missing.
A test fails when a page it opens reports a Content-Security-Policy violation (an inline script, a handler, a
refused frame...) unless it is marked `csp_violation_expected("<directive>")` for that directive.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.platform.fixtures import fresh_services, register_platform, serve_platform

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The project's rule: WCAG 2.2 AA, and no serious or critical violation on any page.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_BLOCKING = ("serious", "critical")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--test-third-party-cookie-phaseout",  # block third-party cookies, as Safari and Chrome may
    # Pages fulfilled by a test route have no IP address and count as "public"; let them reach loopback.
    "--disable-features=LocalNetworkAccessChecks",
]


def _chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    return path if Path(path).exists() else shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium():
    path = _chromium_path()
    if path is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (REQUIRE_BROWSER=1) but was not found; install Debian's chromium")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lms_server(live_tool):
    """The platform on another site (localhost) than the tool (127.0.0.1)."""
    platform, server = serve_platform(live_tool, client_id="browser-client", host="localhost")
    yield platform
    server.stop()


@pytest.fixture
def lms(app, lms_server):
    lms_server.plans.clear()
    fresh_services(lms_server)
    register_platform(app, lms_server)
    return lms_server


# In every frame (the tool's cross-site frame too): report each CSP violation on the console, where `page` sees it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " in "
                + e.documentURI + " (" + (e.sourceFile || "") + ":" + e.lineNumber + ")");
});
"""


def _is_csp_violation(text: str) -> bool:
    # Ours (above), and Chromium's own console lines: a frame refused by frame-ancestors fires no event in a page.
    return text.startswith("CSP violation: ") or "Content Security Policy" in text


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1100, "height": 1000})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if _is_csp_violation(message.text) else None)
    yield page
    context.close()
    expected = request.node.get_closest_marker("csp_violation_expected")
    unexpected = [v for v in violations if not (expected and any(d in v for d in expected.args))]
    if unexpected:
        pytest.fail("The page reported Content-Security-Policy violations:\n" + "\n".join(unexpected), pytrace=False)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def screenshot_frame(page, frame, name: str) -> Path:
    """A full-page screenshot with the LMS's iframe stretched to the tool page's height (to look at all of it)."""
    height = frame.locator("html").evaluate("el => el.scrollHeight")
    before = page.evaluate("h => { const f = document.querySelector('iframe#tool'), was = f.style.height;"
                           " f.style.height = h + 'px'; return was; }", height + 20)
    viewport = page.viewport_size
    # The cross-site frame paints in its own process, only within the viewport: make the viewport as tall.
    page.set_viewport_size({"width": viewport["width"], "height": height + 60})
    page.wait_for_timeout(300)
    path = screenshot(page, name)
    page.set_viewport_size(viewport)
    page.evaluate("h => { document.querySelector('iframe#tool').style.height = h; }", before)
    return path


def _axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"axe-core is required (REQUIRE_BROWSER=1) but {AXE} is missing; run `npm ci`")
        pytest.skip("axe-core is not installed (run `npm ci`)")
    return AXE.read_text(encoding="utf-8")


def _frame_of(target):
    """A Frame or Page as is; a FrameLocator (what `page.frame_locator` gives) resolved to its frame."""
    if hasattr(target, "evaluate"):
        return target
    return target.owner.element_handle().content_frame()


def assert_accessible(frame_or_page, name: str) -> list[dict]:
    """Run axe-core (WCAG 2.2 AA tags) on the page or frame; fail listing every serious or critical violation.

    Returns every violation found (the minor and moderate ones too), for a test that wants to look further.
    """
    target = _frame_of(frame_or_page)
    if not target.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated by the test driver (a <script> tag added to the page would be refused: script-src 'self').
        target.evaluate("source => { (0, eval)(source); }", _axe_source())
    result = target.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,"
        " targets: v.nodes.map(n => n.target.join(' ')), html: v.nodes.map(n => n.html)})))",
        AXE_TAGS,
    )
    blocking = [v for v in result if v["impact"] in AXE_BLOCKING]
    if blocking:
        lines = [f"{name}: {len(blocking)} serious or critical accessibility violation(s) (axe-core, WCAG 2.2 AA):"]
        for violation in blocking:
            lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
            lines.extend(f"    {target} -> {html[:200]}" for target, html in zip(violation["targets"],
                                                                             violation["html"], strict=True))
        pytest.fail("\n".join(lines), pytrace=False)
    return result


def launch_in_lms(page, lms, person: str, **plan):
    """Open the LMS course page that frames a launch of `person`; the tool's frame (a frame locator)."""
    login, _ = lms.next_launch(person=person, **plan)
    page.goto(lms.course_page_url(login))
    page.wait_for_selector("iframe#tool")
    return page.frame_locator("iframe#tool")


def tool_frame(page):
    """The tool's frame itself (for its URL and to navigate it)."""
    return page.locator("iframe#tool").element_handle().content_frame()


def frame_ltik(page) -> str:
    """The launch reference the tool's frame carries now."""
    from urllib.parse import parse_qs, urlsplit

    (ltik,) = parse_qs(urlsplit(tool_frame(page).url).query)["ltik"]
    return ltik


def lose_cookies_during_login(page, lms) -> None:
    """Emulate a browser that drops even partitioned cookies in third-party frames (older Safari)."""

    def handle(route):
        response = route.fetch(max_redirects=0)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("set-cookie", "content-length")}
        route.fulfill(status=response.status, headers=headers, body=response.body())

    page.route(f"{lms.tool_origin}/lti/login*", handle)
