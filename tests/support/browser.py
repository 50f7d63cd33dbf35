"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

No browser is downloaded: the system binaries are named explicitly, so
Selenium Manager never runs. Each browser gets a fresh profile directory and
no background networking, so a page can only load what its own server sends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def screenshot_dir() -> Path:
    """``$LEVIATHAN_SCREENSHOTS``, else ``.artifacts/dashboard/`` under the repository root."""
    chosen = os.environ.get("LEVIATHAN_SCREENSHOTS")
    folder = Path(chosen) if chosen else ROOT / ".artifacts" / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    found = binaries()
    if found is None:
        pytest.skip("no chromium/chromedriver: run `make install` (scripts/install-system-deps.sh)")
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def full_page_png(chrome: webdriver.Chrome, path: Path) -> Path:
    """The whole page, not only the window: the viewport is set to the page's height."""
    height = int(
        chrome.execute_script("return Math.ceil(document.body.getBoundingClientRect().bottom)")
    )
    metrics = {"width": 1400, "height": max(400, min(height + 16, 6000)), "deviceScaleFactor": 1}
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
    try:
        chrome.save_screenshot(str(path))
    finally:
        chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path
