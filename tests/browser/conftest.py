"""Headless chromium (Debian's package) driven by Playwright against pytest-django's live server."""

import threading

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def live_server(django_db_setup, live_server):
    """pytest-django's live server, started once the test database exists, stopped cleanly.

    Session fixtures are set up before function ones, so without `django_db_setup` here the
    server starts while the settings still name db.sqlite3: it cannot share the in-memory test
    database's connection, and every request thread opens its own, which SQLite never closes
    (ResourceWarning, an error under this suite's warning filter).
    """
    yield live_server
    # The browser (which depends on this fixture) has closed its keep-alive connections by now;
    # let the request threads serving them finish before the server stops sharing the database
    # connection, or they fail closing it ("DatabaseWrapper objects created in a thread...").
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser(live_server):
    # Django keeps database connections per thread, but per asyncio context while an event loop
    # runs in the thread, and Playwright's sync API keeps one running here from now on. Put
    # this thread's connections back in place, so tests keep the one the test database (and
    # the serialized copy that restores the roles after a flush) was set up on.
    wrappers = {alias: connections[alias] for alias in connections}
    with sync_playwright() as playwright:
        for alias, wrapper in wrappers.items():
            connections[alias] = wrapper
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server):
    def log_in(username: str) -> None:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("input[name=auth-username]", username)
        page.fill("input[name=auth-password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")

    return log_in
