"""A real headless Chromium (Debian's, driven by Selenium), screenshots kept as artifacts, and
`python -m tuner.dashboard` served for it.

.ci/run installs chromium and chromium-driver from Debian. Selenium is pointed at them, so
selenium-manager never tries to download a browser or a driver (nothing can be downloaded here).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
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


URL_LINE = re.compile(
    r"^dashboard for study '(?P<name>[^']+)': (?P<url>http://\S+)(?P<note> \(.*\))?$", re.MULTILINE
)


def listening_addresses(port: int) -> set[str]:
    """The addresses this host's TCP sockets listen on at `port` (the kernel's tables)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, at = local.split(":")
            if state != "0A" or int(at, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, words))
    return found


@contextlib.contextmanager
def serve(study: str, storage: str, *, cwd, host: str | None = None):
    """`python -m tuner.dashboard --port 0` as a user runs it; yields the study page URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner.dashboard",
            "--study",
            study,
            "--storage",
            storage,
            "--port",
            "0",
            *(("--host", host) if host else ()),
        ],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        match = URL_LINE.match(line.strip())
        assert match, (
            f"no URL line from tuner.dashboard: {line!r} "
            f"{proc.stderr.read() if proc.poll() is not None else ''}"
        )
        port = int(match["url"].split("/dashboard/")[0].rsplit(":", 1)[1])
        if host is None:
            assert listening_addresses(port) == {"127.0.0.1"}, (
                "the default must bind to 127.0.0.1 only"
            )
            assert match["note"] is None and match["url"].startswith("http://127.0.0.1:")
        else:  # what the line says must be what the socket does
            assert listening_addresses(port) == {host}, listening_addresses(port)
            assert match["note"] == " (listening on all interfaces)", line
        yield match["url"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0, (
        f"dashboard did not stop cleanly: {proc.returncode} {proc.stderr.read()}"
    )
