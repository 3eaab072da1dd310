"""A real headless Chromium (Debian's, driven by Selenium) and screenshots kept as artifacts.

.ci/run installs chromium and chromium-driver from Debian. Selenium is pointed at them, so
selenium-manager never tries to download a browser or a driver (nothing can be downloaded here).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "artifacts"  # screenshots and timings from the browser tests (gitignored)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def start_chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, (
        f"{', '.join(missing)} not found: install them with "
        "`apt-get install -y chromium chromium-driver` (.ci/run does)"
    )
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: selenium-manager must not go online
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except Exception:  # the page is being replaced under us; ask again
        return ""


def wait_until(driver, condition, *, timeout: float = 60, what: str = "") -> float:
    """Poll `condition(driver)` until true; return seconds waited. Fails with the page text."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition(driver):
            return time.perf_counter() - start
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; page shows:\n{page_text(driver)[:2000]}"
    )


def wait_for_text(driver, *texts: str, timeout: float = 60) -> float:
    return wait_until(
        driver,
        lambda d: all(t in page_text(d) for t in texts),
        timeout=timeout,
        what=" and ".join(repr(t) for t in texts),
    )


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    print(f"screenshot: {path}")
    return path
