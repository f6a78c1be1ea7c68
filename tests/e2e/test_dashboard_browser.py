"""The operator dashboard in headless Chromium, served by a real runserver, after a real run.

The run (``dashboard_run``) writes its rows through the real services in another process;
the page must show them without a console error, pick up new rows by itself without a
full reload, send anonymous visitors to the login page and show a staff user without
view permissions no data. The screenshot is saved as ``dashboard.png`` in the test's
temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from tests.chromium import Browser
from tests.e2e import dashboard_run
from tests.e2e.conftest import ROOT
from tests.services import RedisServer, free_port

DASHBOARD = "/admin/reliability/reliabilityreport/dashboard/"
REFRESH_SECONDS = 2


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def site(fresh_database, redis_server, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "REDIS_URL": redis_server.url,
        "VAR_DIR": str(tmp_path / "var"),
        "APP_ENV": "development",
        "DEBUG": "true",
        "DASHBOARD_REFRESH_SECONDS": str(REFRESH_SECONDS),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def run(step: str) -> None:
        command = [sys.executable, "-m", "tests.e2e.dashboard_run", step]
        subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=180)

    run("seed")
    port = free_port()
    log = tmp_path / "runserver.log"
    with log.open("wb") as output:
        # runserver with DEBUG on serves the admin's static files, as a developer sees the page.
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/health/live", timeout=5)
            break
        except requests.RequestException:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"runserver did not start: {log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.2)
    yield url, run
    server.terminate()
    server.wait(timeout=15)


@pytest.fixture
def browser(tmp_path):
    chromium = Browser(tmp_path / "chromium")
    yield chromium
    chromium.close()


def login(page, url: str, user: tuple[str, str]) -> None:
    page.goto(f"{url}/admin/login/?next={DASHBOARD}")
    page.evaluate(
        f"document.getElementById('id_username').value = {user[0]!r};"
        f"document.getElementById('id_password').value = {user[1]!r};"
        "document.querySelector('#login-form').submit(); true"
    )
    page.wait_for(f"location.pathname === {DASHBOARD!r} && document.readyState === 'complete'")


def test_the_dashboard_renders_a_real_run_and_refreshes_itself_without_console_errors(site, browser, tmp_path):
    url, run = site
    page = browser.new_page()
    login(page, url, dashboard_run.OPERATOR)

    panels = page.evaluate("[...document.querySelectorAll('section.dashboard-panel')].map(s => s.id)")
    assert panels == [
        "panel-breakers",
        "panel-health",
        "panel-degradation",
        "panel-dead_letters",
        "panel-outbox",
        "panel-messages",
    ]
    checks = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('tr.health-check')]"
        ".map(r => [r.dataset.check, r.dataset.status]))"
    )
    assert (checks["database"], checks["cache"]) == ("pass", "pass")
    states = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('tr.breaker-row')]"
        ".map(r => [r.dataset.breaker, r.dataset.state]))"
    )
    assert (states["green_api"], states["deepseek"], states["database"]) == ("open", "forced_open", "closed")
    assert page.evaluate("document.querySelector('#panel-degradation .badge').textContent") == "moderate"
    assert "operator override by admin:ops" in page.evaluate("document.querySelector('#panel-degradation').innerText")
    assert page.evaluate("document.querySelector('.dlq-backlog').textContent") == "4"
    assert page.evaluate("document.querySelector('#panel-messages .messages-in').textContent") == "12"
    assert page.evaluate("document.querySelector('#panel-messages .replies-out').textContent") == "12"
    sent = page.evaluate("document.querySelector('tr.outbox-status[data-status=sent] td:last-child').textContent")
    assert sent == "12"
    # Charts: the breakers' timeline shows green_api's open stretch; the lines are drawn.
    assert page.evaluate("document.querySelectorAll('#panel-breakers svg.timeline rect.state-open').length") >= 1
    assert page.evaluate("document.querySelectorAll('#panel-messages svg.line polyline').length") >= 2
    links = page.evaluate("[...document.querySelectorAll('a.action')].map(a => a.textContent)")
    assert {"Reset", "Set level", "Clear override", "Pending letters"} <= set(links)

    # New rows reach the open page by the fragment's refresh, not by a reload.
    page.evaluate("window.notReloaded = true")
    run("more")
    page.wait_for("document.querySelector('.dlq-backlog').textContent === '6'", timeout=8 * REFRESH_SECONDS)
    assert page.evaluate("window.notReloaded === true")
    assert int(page.evaluate("document.getElementById('dashboard-panels').dataset.refreshes")) >= 1

    browser.drain(1.0)
    shot = page.screenshot(tmp_path / "dashboard.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000
    assert page.errors() == []


def test_anonymous_visitors_are_sent_to_the_login_page(site, browser):
    url, _ = site
    answer = requests.get(f"{url}{DASHBOARD}panels/", allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login/")
    page = browser.new_page()
    page.goto(f"{url}{DASHBOARD}")
    assert page.evaluate("location.pathname") == "/admin/login/"
    assert "green_api" not in page.evaluate("document.body.innerText")
    assert page.errors() == []


def test_a_staff_user_without_view_permissions_sees_the_page_and_no_data(site, browser):
    url, _ = site
    page = browser.new_page()
    login(page, url, dashboard_run.VIEWER)
    text = page.evaluate("document.getElementById('dashboard-panels').innerText")
    assert "no permission to view any panel" in text
    assert page.evaluate("document.querySelectorAll('section.dashboard-panel').length") == 0
    for shown in ("green_api", "deepseek", "moderate", "whatsapp_message", "Outbox"):
        assert shown not in page.evaluate("document.body.innerText"), shown
    assert page.errors() == []
