"""A retune with no new rows since the champion's data: no unfair verdict, one plain reason.

The champion is refit on its whole window, holdout included. A second `tune` on the same data
once compared that champion, judged on rows it had learned (0.626 and 0.836 in two cases), with
a challenger that never saw them (0.264): almost always refused, its reason printed as
"refused: refused: ...". Now the gate judges both only on holdout rows neither was fitted on
and, when too few are left, says there is nothing new to judge on; the verdict reads once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.config import load_config
from flows.store.project import open_store
from flows.store.registry import champion
from tests.fault_tests.processes import invoke
from tests.flow_tests.projects import batch, land, make_project

pytestmark = pytest.mark.slow


def test_a_tune_with_nothing_new_says_so_and_keeps_the_champion(
    tmp_path: Path, template_store: Path, prefect_server: None
) -> None:
    config = make_project(tmp_path, template_store)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    assert invoke("tune", "-c", str(config))[0] == 0
    code, output = invoke("tune", "-c", str(config))
    assert code == 0, output
    assert "refused: refused" not in output and "PROMOTED: promoted" not in output, output
    assert "refused: nothing new to judge on" in output, output

    store = open_store(load_config(config))
    current = champion(store)
    assert current is not None and current.version == "1"
    refused = store.client.get_model_version("toy", "2").tags
    assert refused["gate.decision"] == "refuse"
    assert refused["gate.reason"].startswith("refused: nothing new to judge on: the champion")
    assert "learned 60 of the 60 holdout rows" in refused["gate.reason"]
