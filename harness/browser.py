"""Headless Chromium for the tests that look at a page as a user does (Debian's chromium + chromium-driver;
tests skip where they are not installed: `apt-get install chromium chromium-driver`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def find_chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def require_chromium() -> None:
    if find_chromium() is None:
        pytest.skip("Chromium/chromedriver not installed (apt-get install chromium chromium-driver)")


@contextmanager
def headless_chrome(width: int = 1400, height: int = 900) -> Iterator:
    """A selenium Chrome driver on Debian's chromium, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def bottom_of(chrome, css: str) -> float:
    """Page y (CSS px) of the bottom edge of the first element matching ``css``, once images have loaded."""
    element = chrome.find_element("css selector", css)
    return float(chrome.execute_script("const r = arguments[0].getBoundingClientRect(); return r.bottom;", element))
