"""Headless Chromium for the web page's tests and its README screenshot (scripts/web_screenshot.py)."""
from __future__ import annotations

import shutil
from pathlib import Path


def browser_missing() -> str | None:
    """None where the browser tests can run, else why not (what to install)."""
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (make setup installs it)"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
        return "needs Debian's chromium and chromium-driver (make setup installs them when run as root)"
    return None


def chromium(download_dir: Path):
    """Headless Chromium driven by selenium, downloading into ``download_dir``, allowed to start audio."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1100",
                "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver
