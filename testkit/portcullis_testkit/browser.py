"""Headless Chromium for the e2e tests that look at pages as a person does (Debian's chromium and
chromedriver, driven by Selenium). A browser that cannot start here is a skip with its reason."""
from __future__ import annotations

import shutil
from typing import Iterator, Optional, Sequence

import pytest


def browser_unavailable() -> Optional[str]:
    """Why no browser can run here, or None."""
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


def headless_chromium(extra_args: Sequence[str] = (), console_log: bool = False) -> Iterator["object"]:
    """A fixture body: yields a started driver (1280x1000) and quits it after, or skips."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu", *extra_args):
        options.add_argument(arg)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    except Exception as exc:  # noqa: BLE001 - a browser that cannot start is this machine's, reported as a skip
        pytest.skip(f"headless Chromium cannot start here: {exc}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
