"""The admin dashboard in a real browser (Debian's chromium, driven by
Selenium through chromium-driver): a live transfer's progress, and ending
its session with the kick button, by keyboard."""

from __future__ import annotations

import shutil
import time

import pytest

from admin_support import TOKEN, SlowDownload, start_admin, transferring_session
from admin_support import wait_for as wait_for_value

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:
    pytest.fail("selenium is needed: pip install -r tests/interop/requirements.txt "
                "(scripts/test installs it)", pytrace=False)

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    pytest.fail("chromium and chromium-driver are needed (scripts/test installs them)", pytrace=False)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver, css: str) -> str:
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else ""


def wait_for(what: str, predicate, timeout: float = 15.0):
    """admin_support.wait_for on the page: the dashboard rebuilds its
    tables every second, so an element replaced while it is read counts as
    not yet."""
    def read():
        try:
            return predicate()
        except StaleElementReferenceException:
            return None
    return wait_for_value(what, read, timeout)


def row_bytes(driver, session_id: int) -> int:
    spans = driver.find_elements(By.CSS_SELECTOR, f'#sessions tr[data-id="{session_id}"] .bytes')
    return int(spans[0].get_attribute("data-bytes")) if spans else 0


def test_live_progress_and_kick_by_keyboard(start_server, layout, browser):
    admin = start_admin(start_server, layout)
    download = SlowDownload(admin.server).start()
    session = transferring_session(admin)
    sid = session["id"]

    browser.get(admin.url + "/")
    token = browser.find_element(By.ID, "token")
    assert token.is_displayed()
    token.send_keys(TOKEN, Keys.ENTER)

    # The row of the transfer, with a progress bar that moves.
    first = wait_for("the transfer's row", lambda: row_bytes(browser, sid))
    wait_for("the progress to move", lambda: row_bytes(browser, sid) > first)
    bar = wait_for("the progress bar", lambda: browser.execute_script(
        "const b = document.querySelector(arguments[0]); return b && [b.value, b.max];",
        f'#sessions tr[data-id="{sid}"] progress'))
    assert 0 < float(bar[0]) < float(bar[1]), bar
    row_text = wait_for("the row's text", lambda: browser.find_element(
        By.CSS_SELECTOR, f'#sessions tr[data-id="{sid}"]').text)
    assert "RETR /big.bin" in row_text and "/s" in row_text and "user" in row_text
    # The throughput graph draws what was sent.
    wait_for("the graph", lambda: len(browser.find_element(
        By.CSS_SELECTOR, "#graph polyline.sent").get_attribute("points").split()) >= 2)

    # Kick, by keyboard: focus the button, press Enter. The focus stays on
    # the button across the table's rebuilds.
    label = f"Kick session {sid}"
    wait_for("the kick button to take the focus", lambda: browser.execute_script(
        "arguments[0].focus(); return true;",
        browser.find_element(By.CSS_SELECTOR, f'#sessions tr[data-id="{sid}"] button.kick')))
    time.sleep(2.5)  # two rebuilds of the table at least
    wait_for("Enter on the focused kick button", lambda: (
        browser.switch_to.active_element.get_attribute("aria-label") == label
        and browser.switch_to.active_element.send_keys(Keys.ENTER) is None))
    assert download.done.wait(10), "the download went on after the kick"
    assert download.error is not None
    wait_for("the row to go", lambda: not browser.find_elements(
        By.CSS_SELECTOR, f'#sessions tr[data-id="{sid}"]'))
    assert f"Session {sid} kicked." in text_of(browser, "#status")
    assert "session closed by the administrator" in admin.server.log

    # The token is kept for the tab: a reload opens the dashboard again.
    browser.refresh()
    wait_for("the dashboard after a reload",
             lambda: browser.find_element(By.ID, "dashboard").is_displayed())
    assert not browser.find_element(By.ID, "login").is_displayed()
    assert browser.execute_script("return document.cookie") == ""
    # Nothing was refused by the Content-Security-Policy, no script failed.
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def test_a_wrong_token_is_refused_and_forgotten(start_server, layout, browser):
    admin = start_admin(start_server, layout)
    browser.get(admin.url + "/")
    browser.find_element(By.ID, "token").send_keys("this-is-not-the-token", Keys.ENTER)
    wait_for("the refusal", lambda: "refused" in text_of(browser, "#login-error"))
    assert browser.find_element(By.ID, "login").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0
