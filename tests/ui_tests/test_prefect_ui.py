"""The Prefect UI shows the retune flow run, completed, and its leaderboard artifact."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.ui_tests.conftest import Tuned
from tests.ui_tests.pages import wait_for, wait_for_text, wait_for_url

pytestmark = pytest.mark.browser

FLOW = "retune"
COMPLETED = ".//*[normalize-space()='Completed' and not(ancestor-or-self::option)]"
LEADERBOARD_COLUMNS = [
    "rank", "round", "val accuracy", "val log-loss", "learning rate", "momentum", "layers",
    "units", "batch",
]  # fmt: skip


def _flow_runs(api: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{api}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        runs: list[dict[str, Any]] = json.load(answer)
    return runs


def test_the_retune_flow_run_completed_with_its_leaderboard(
    browser: Any, prefect_ui: str, tuned: Tuned, screenshot: Callable[[Any, str], Path]
) -> None:
    [flow_run] = _flow_runs(f"{prefect_ui}/api")
    assert flow_run["state_type"] == "COMPLETED", flow_run["state"]
    assert flow_run["flow_id"] and flow_run["name"], flow_run

    # The runs list: the flow by name, the run, its state badge (not a state filter's option).
    browser.get(f"{prefect_ui}/runs")
    [link] = wait_for(browser, By.LINK_TEXT, flow_run["name"])
    row = link.find_element(By.XPATH, "./ancestor::*[contains(@class, 'flow-run-list-item')][1]")
    wait_for(browser, By.XPATH, f".//*[normalize-space()='{FLOW}']", within=row)
    wait_for(browser, By.XPATH, COMPLETED, within=row)
    screenshot(browser, "prefect-flow-runs")
    link.click()
    wait_for_url(browser, f"/runs/flow-run/{flow_run['id']}")
    wait_for_text(browser, "Flow", FLOW, "Artifacts")
    wait_for(browser, By.XPATH, COMPLETED)

    # Its artifacts tab, then the leaderboard: the markdown table, momentum column included.
    [tab] = wait_for(browser, By.XPATH, "//*[@role='tablist']/*[normalize-space()='Artifacts']")
    tab.click()
    [artifact] = wait_for(browser, By.XPATH, f"//a[contains(., '{tuned.name}-leaderboard')]")
    artifact.click()
    wait_for_url(browser, "/artifacts/artifact/")
    wait_for_text(browser, f"Promotion: promoted (version {tuned.result['version']})")
    headers = [h.text for h in wait_for(browser, By.CSS_SELECTOR, "table th")]
    assert headers == LEADERBOARD_COLUMNS, headers
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "table tbody tr") if r.text]
    assert len(rows) == tuned.result["trials"], [r.text for r in rows]
    best = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
    momentum = best[LEADERBOARD_COLUMNS.index("momentum")]
    assert momentum == f"{tuned.result['best_params']['momentum']:.4f}", best
    screenshot(browser, "prefect-leaderboard")
