"""Waiting on what a page shows: text in the page, elements, the address."""

from __future__ import annotations

from typing import Any

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 30.0  # a cold UI on a loaded 2-core machine; a healthy one shows its page in seconds


def body_text(driver: Any) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def wait_for_text(driver: Any, *texts: str, timeout: float = TIMEOUT) -> str:
    """The page's visible text once it shows every one of ``texts``."""

    def shown(d: Any) -> str | bool:
        text = body_text(d)
        return text if all(t in text for t in texts) else False

    try:
        return str(WebDriverWait(driver, timeout, poll_frequency=0.25).until(shown))
    except TimeoutException:
        missing = [t for t in texts if t not in body_text(driver)]
        raise AssertionError(
            f"{driver.current_url} never showed {missing} in {timeout:.0f} s; it shows:\n"
            f"{body_text(driver)[:3000]}"
        ) from None


def wait_for(
    driver: Any, by: str, selector: str, timeout: float = TIMEOUT, within: Any = None
) -> list[Any]:
    """The visible elements matching ``selector`` (in element ``within``), once there are any."""

    def found(d: Any) -> list[Any] | bool:
        root = d if within is None else within
        elements = [e for e in root.find_elements(by, selector) if e.is_displayed()]
        return elements or False

    try:
        result: list[Any] = WebDriverWait(driver, timeout, poll_frequency=0.25).until(found)
    except TimeoutException:
        raise AssertionError(
            f"{driver.current_url} never showed {selector!r} in {timeout:.0f} s; it shows:\n"
            f"{body_text(driver)[:3000]}"
        ) from None
    return result


def wait_for_url(driver: Any, part: str, timeout: float = TIMEOUT) -> str:
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: part in d.current_url)
    except TimeoutException:
        raise AssertionError(f"the address never held {part!r}: {driver.current_url}") from None
    return str(driver.current_url)
