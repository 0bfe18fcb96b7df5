"""The real portal in headless Chromium: sign up JettyThunder, copy the key, use it, roll up, read the dashboard."""

import importlib
import json
import os
import random
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
from django.db import connections

from portal import figures, services

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser
# CI (.ci/run) sets this: there a missing browser is a failure, never a silent skip.
REQUIRE_SERVICES = os.environ.get("AGENTCACHE_REQUIRE_SERVICES") == "1"


def _unavailable(reason):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}; AGENTCACHE_REQUIRE_SERVICES=1, so the browser test may not skip")
    pytest.skip(reason)


def browser_requirements():
    """The Playwright sync API module, or fails/skips naming what is missing."""
    if not shutil.which(CHROMIUM):
        _unavailable(f"needs Debian's chromium at {CHROMIUM}")
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        _unavailable("needs Playwright for Python (playwright.sync_api)")


@pytest.fixture
def browser_page(monkeypatch):
    playwright_api = browser_requirements()
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            yield context, page
        finally:
            context.close()
            browser.close()


def cache_call(context, base, key, namespace, op, body):
    response = context.request.post(
        f"{base}/api/cache/{op}",
        headers={"X-API-Key": key, "X-Namespace": namespace, "Content-Type": "application/json"},
        data=json.dumps(body),
    )
    assert response.status == 200, response.text()
    return response.json()


def in_own_thread(function):
    """Run ORM work off Playwright's greenlet, whose context would keep a database connection open."""
    errors = []

    def run():
        try:
            function()
        except Exception as exc:  # re-raised in the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def shown(page, testid):
    return page.get_by_test_id(testid).inner_text().strip()


@pytest.mark.django_db(transaction=True)
def test_signup_to_first_cache_hit_and_exact_dashboard(live_server, browser_page):
    context, page = browser_page
    base = live_server.url

    page.goto(f"{base}/portal/signup.html")  # the old address redirects to the new page
    assert page.url == f"{base}/portal/signup/"
    page.get_by_label("Email").fill("ops@jettythunder.example")
    page.get_by_label("Password").fill("thunder-sync-2026")
    page.get_by_label("Organization name").fill("JettyThunder")
    page.locator("input[name=sector][value=filestorage]").check()
    page.locator("textarea[name=description]").fill("Firmware and drivers for the desktop sync app")
    page.get_by_role("button", name="Create account").click()

    page.get_by_text("shown only once").wait_for()
    shown_key = page.get_by_test_id("api-key").input_value()
    assert re.fullmatch(r"ac_[0-9a-f]{64}", shown_key)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.get_by_role("button", name="Copy").click()
    page.locator("button[data-copied=true]").wait_for()
    key = page.evaluate("navigator.clipboard.readText()")
    assert key == shown_key  # what the user pastes is the key
    page.screenshot(path=str(ARTIFACTS / "portal-signup-key.png"), full_page=True)

    # The integrator's first calls, with the copied key.
    sizes, hits, misses, sets, deletes, served = {}, 0, 0, 0, 0, 0
    for i in range(6):
        reply = cache_call(context, base, key, "metadata", "set", {"key": f"file:{i}", "value": {"sha": "ab" * i}})
        sizes[f"file:{i}"] = reply["size"]
        sets += 1
    for i in list(range(6)) + [0, 1, 2]:
        assert cache_call(context, base, key, "metadata", "get", {"key": f"file:{i}"})["hit"] is True
        hits += 1
        served += sizes[f"file:{i}"]
    for name in ("missing:1", "missing:2"):
        assert cache_call(context, base, key, "metadata", "get", {"key": name})["hit"] is False
        misses += 1
    assert cache_call(context, base, key, "metadata", "delete", {"key": "file:5"})["deleted"] is True
    deletes += 1

    in_own_thread(services.rollup_usage)  # what beat does every few minutes

    # Traffic after the rollup stays in the live counters: the dashboard must add it too.
    build_size = cache_call(context, base, key, "cdn", "set", {"key": "build:42", "value": "x" * 300})["size"]
    sets += 1
    for _ in range(2):
        assert cache_call(context, base, key, "cdn", "get", {"key": "build:42"})["hit"] is True
        hits += 1
        served += build_size

    page.get_by_role("link", name=re.compile("continue to the dashboard")).click()
    page.wait_for_url(f"{base}/portal/dashboard/")
    requests = sets + hits + misses + deletes
    assert shown(page, "total-requests") == f"{requests:,}"
    assert shown(page, "hit-rate") == f"{hits / (hits + misses) * 100:.1f}%"
    assert shown(page, "bandwidth-saved") == figures.human_bytes(served)
    assert "metadata" in page.get_by_test_id("namespaces").inner_text()
    assert key[:11] in page.get_by_test_id("keys").inner_text() and key not in page.content()
    page.screenshot(path=str(ARTIFACTS / "portal-dashboard.png"), full_page=True)

    usage = context.request.get(f"{base}/api/usage", headers={"X-API-Key": key}).json()
    assert usage["totals"]["requests"] == requests and usage["totals"]["hits"] == hits

    # The desktop-CDN evaluator with the same key; its result is drawn in the portal.
    rng = random.Random(7)  # Zipf-like popularity over 60 firmware files, as a desktop app's log looks
    popular = rng.choices(range(60), weights=[1 / (k + 1) for k in range(60)], k=800)
    history = [
        {"timestamp": 1_764_000_000_000 + i * 1000, "path": f"/firmware/{n}.bin", "size": 40_000 * (1 + n % 13)}
        for i, n in enumerate(popular)
    ]
    evaluated = context.request.post(
        f"{base}/api/cdn/evaluate",
        headers={"X-API-Key": key, "X-Namespace": "cdn", "Content-Type": "application/json"},
        data=json.dumps({"accessHistory": history}),
    )
    assert evaluated.status == 200, evaluated.text()
    page.goto(f"{base}/portal/cdn/")
    page.get_by_role("link", name="Open").first.click()
    page.get_by_test_id("recommended").wait_for()
    assert page.locator("svg.chart polyline").count() == 2
    page.screenshot(path=str(ARTIFACTS / "portal-cdn-evaluation.png"), full_page=True)

    for path, name in (
        ("/portal/quickstart/", "quickstart"),
        ("/portal/reports/weekly/", "weekly-report"),
        ("/portal/dedup/", "dedup"),
        ("/portal/namespaces/", "namespaces"),
        ("/portal/keys/", "keys"),
    ):
        page.goto(base + path)
        page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def test_missing_chromium_fails_when_services_are_required(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE_SERVICES", True)
    with pytest.raises(pytest.fail.Exception, match="may not skip"):
        browser_requirements()
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE_SERVICES", False)
    with pytest.raises(pytest.skip.Exception):
        browser_requirements()
