"""The flows against real Prefect (one temporary server) and a real SQLite MLflow store."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterName,
)
from prefect.logging.handlers import APILogHandler

from data.errors import DataError
from flows import running
from flows.check_drift import DriftCheckRequest, check_drift
from flows.cli import progress
from flows.cli.status import project_status
from flows.config import load_config
from flows.locking import RetuneBusyError, retune_lock
from flows.retune import RetuneRequest, retune
from flows.store.audit import list_audit
from flows.store.handle import Store
from flows.store.project import open_store
from flows.store.registry import champion
from flows.store.tracking import all_runs, ensure_experiment
from models import BNSoftmaxClassifier
from models.errors import SearchError
from tests.flow_tests.projects import TINY_SEARCH, batch, land, make_project

pytestmark = pytest.mark.usefixtures("prefect_server")
BUDGET = TINY_SEARCH["rounds"] * TINY_SEARCH["trials_per_round"]


def _store(config_path: Path) -> Store:
    return open_store(load_config(config_path))


def _search_runs(config_path: Path) -> list[Any]:
    store = _store(config_path)
    client = store.client
    experiment = ensure_experiment(store, "search")
    return all_runs(client, [experiment], "tags.`driftune.kind` = 'search'")


def _trial_runs(config_path: Path, search_run_id: str) -> list[Any]:
    store = _store(config_path)
    client = store.client
    experiment = ensure_experiment(store, "search")
    return all_runs(client, [experiment], f"tags.mlflow.parentRunId = '{search_run_id}'")


@pytest.fixture
def project(tmp_path: Path, template_store: Path) -> Path:
    config_path = make_project(tmp_path, template_store)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    return config_path


def test_retune_leaves_one_search_run_its_trials_and_a_champion(project: Path) -> None:
    summary = retune(RetuneRequest(config_path=str(project)))
    searches = _search_runs(project)
    assert len(searches) == 1 and searches[0].info.status == "FINISHED"
    assert searches[0].data.tags["trigger"] == "manual"
    trials = _trial_runs(project, searches[0].info.run_id)
    assert len(trials) == BUDGET == summary.trials
    assert len({run.data.tags["trial_key"] for run in trials}) == BUDGET
    store = _store(project)
    info = champion(store)
    assert info is not None and info.version == summary.version == "1"
    assert info.search_run_id == searches[0].info.run_id
    assert summary.promoted and "no champion" in summary.reason
    description = searches[0].data.tags["mlflow.note.content"]  # shown atop the run in the UI
    assert "### Promotion: promoted (version 1)" in description
    candidate = next(line for line in description.splitlines() if line.startswith("Candidate: "))
    assert "refit on the whole window" in candidate
    header = next(line for line in description.splitlines() if line.startswith("| rank"))
    assert "| learning rate | momentum |" in header  # both optimizer settings searched
    contexts = {
        tag.value
        for dataset in searches[0].inputs.dataset_inputs
        for tag in dataset.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"training", "validation", "holdout"}


def test_the_promoted_version_learned_every_row_and_a_refused_one_is_the_judged_model(
    tmp_path: Path, template_store: Path
) -> None:
    """Superiority refuses a rerun on the same rows: the refused version stays the judged model."""
    project = make_project(tmp_path, template_store)
    config = yaml.safe_load(project.read_text())
    config["promotion"].update(rule="superiority")
    project.write_text(yaml.safe_dump(config))
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    first = retune(RetuneRequest(config_path=str(project)))
    second = retune(RetuneRequest(config_path=str(project)))
    assert first.promoted and not second.promoted, second.reason
    store = _store(project)
    client = store.client
    promoted = client.get_model_version(store.name, first.version)
    refused = client.get_model_version(store.name, second.version)
    assert promoted.tags["gate.decision"] == "promote" and refused.tags["gate.decision"] == "refuse"
    # One trial's refit or an ensemble's ("..., each refit on ..."): the rows are what matter.
    assert "refit on the whole window (240 rows)" in promoted.tags["fit"]
    assert "refit on training + validation rows" in refused.tags["fit"]
    # The version keeps the judged model's holdout score, which the gate's record holds too.
    gate = json.loads(client.get_run(first.search_run_id).data.tags["driftune.gate"])
    assert float(promoted.tags["holdout.accuracy"]) == gate["challenger_score"]
    assert first.challenger_accuracy == gate["challenger_score"]


def test_check_drift_starts_no_retune_without_drift_and_one_with_it(
    tmp_path: Path, template_store: Path
) -> None:
    # Data drift only: the champion's holdout accuracy comes from 60 rows, and a lucky 60 of 60
    # makes a calm batch's 0.93 a significant drop, which is the accuracy check's job, not this.
    project = make_project(tmp_path, template_store, drift={"accuracy_drop": False})
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    retune(RetuneRequest(config_path=str(project)))
    root = project.parent

    land(root, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01"))
    calm = check_drift(DriftCheckRequest(config_path=str(project)))
    assert calm.batch_id == "b-2024-02.csv" and not calm.drifted
    assert calm.retune is None
    assert len(_search_runs(project)) == 1

    again = check_drift(DriftCheckRequest(config_path=str(project)))
    assert again.status == "nothing new"

    land(root, "c-2024-03", batch(np.random.default_rng(2), "2024-03-01", shift=1.5))
    stormy = check_drift(DriftCheckRequest(config_path=str(project)))
    assert stormy.drifted and "x1" in stormy.report.drifted_features
    drift_searches = [r for r in _search_runs(project) if r.data.tags["trigger"] == "drift"]
    assert len(drift_searches) == 1
    assert drift_searches[0].data.tags["drift_run_id"] == stormy.drift_run_id
    assert stormy.retune.search_run_id == drift_searches[0].info.run_id


def test_accuracy_drop_alone_flags_drift_and_starts_a_retune(project: Path) -> None:
    first = retune(RetuneRequest(config_path=str(project)))
    land(project.parent, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", flip=True))
    flipped = check_drift(DriftCheckRequest(config_path=str(project)))
    report = flipped.report
    assert not report.drifted and report.drifted_features == ()
    assert report.performance is not None and report.performance.drifted
    assert report.performance.accuracy < 0.5 < report.performance.baseline_accuracy
    # The reference is unbiased: the judged model's score on holdout rows no trial was chosen
    # on (never the best trial's validation score, a maximum over trials), over those rows.
    client = _store(project).client
    gate = json.loads(client.get_run(first.search_run_id).data.tags["driftune.gate"])
    assert report.performance.baseline_accuracy == gate["challenger_score"]
    assert report.performance.n_baseline == gate["n_rows"] == 60
    assert flipped.drifted and flipped.retune is not None
    description = client.get_run(flipped.drift_run_id).data.tags["mlflow.note.content"]
    assert "b-2024-02.csv: **drift detected**" in description and "accuracy" in description
    assert "| feature | drifted |" in description and "```" not in description  # a real table
    drift_searches = [r for r in _search_runs(project) if r.data.tags["trigger"] == "drift"]
    assert [r.info.run_id for r in drift_searches] == [flipped.retune.search_run_id]


def test_check_drift_takes_the_newest_batch_and_never_goes_back(project: Path) -> None:
    retune(RetuneRequest(config_path=str(project)))
    root = project.parent
    land(root, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01"))
    land(root, "c-2024-03", batch(np.random.default_rng(3), "2024-03-01"))

    first = check_drift(DriftCheckRequest(config_path=str(project), start_retune=False))
    assert first.batch_id == "c-2024-03.csv"
    assert first.passed_over == ("b-2024-02.csv",)
    # An older batch checked after a newer one would judge the champion on stale data.
    assert check_drift(DriftCheckRequest(config_path=str(project))).status == "nothing new"


def test_a_second_retune_while_one_runs_is_refused_and_never_promotes(project: Path) -> None:
    training = threading.Event()  # the first retune, inside its lock, finished a trial
    attempted = threading.Event()  # ... and waits there until the second one has tried
    outcomes: list[Any] = []

    def first_trial_done(done: int, budget: int, result: Any) -> None:
        training.set()
        attempted.wait(120)

    first = threading.Thread(
        target=lambda: outcomes.append(retune(RetuneRequest(config_path=str(project))))
    )
    with progress.listening(first_trial_done):
        first.start()
        assert training.wait(120)
        try:
            with pytest.raises(RetuneBusyError, match="already running"):
                retune(RetuneRequest(config_path=str(project)))
        finally:
            attempted.set()
            first.join()
    assert len(outcomes) == 1 and outcomes[0].promoted
    store = _store(project)
    promotions = [r for r in list_audit(store) if r.event == "promote"]
    assert len(promotions) == 1
    assert len(_search_runs(project)) == 1


@contextmanager
def _held_by_another_thread(name: str, seconds: float, log: list[str]) -> Iterator[None]:
    """Lock ``name`` held by a second thread for ``seconds``; yields once that thread holds it."""
    entered = threading.Event()

    def hold() -> None:
        with retune_lock(name):
            entered.set()
            time.sleep(seconds)
            log.append("holder done")

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(30)
        yield
    finally:
        holder.join()


def test_a_held_lock_survives_a_second_caller_and_refuses_it() -> None:
    with _held_by_another_thread("lock-probe", 2.0, []), pytest.raises(RetuneBusyError):
        with retune_lock("lock-probe"):
            pass
    with retune_lock("lock-probe"):  # released: the next retune gets in
        pass


def test_a_record_left_behind_by_a_finished_holder_misleads_no_one() -> None:
    """The holder record is deleted in one try (a busy server's 503 is not waited out), so a
    finished retune may leave it: naming a released lease and a gone process, it must neither
    free the slot of the retune now holding it nor stop the next one."""
    import socket
    import uuid

    from prefect.client.orchestration import get_client as prefect_client
    from prefect.client.schemas.actions import VariableUpdate

    from flows.locking import holder_variable

    stale = {"lease_id": str(uuid.uuid4()), "host": socket.gethostname(), "pid": 2**22 + 17,
             "created": 0.0, "since": 0.0}  # fmt: skip
    with retune_lock("stale-probe"):
        with prefect_client(sync_client=True) as client:
            client.update_variable(VariableUpdate(name=holder_variable("stale-probe"), value=stale))
        with pytest.raises(RetuneBusyError):  # the stale lease is released; the slot stays held
            with retune_lock("stale-probe"):
                pass
    with retune_lock("stale-probe"):  # and once free, the next retune gets in
        pass


def test_a_second_caller_that_may_wait_gets_the_lock_once_it_is_released() -> None:
    log: list[str] = []
    with _held_by_another_thread("lock-wait-probe", 1.0, log):
        with retune_lock("lock-wait-probe", wait_s=60):
            log.append("waiter in")
    assert log == ["holder done", "waiter in"]


def test_a_killed_retune_resumes_without_retraining_logged_trials(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_call = running.TrialLogger.__call__
    logged: list[int] = []

    def crash_after_three(self: running.TrialLogger, proposal: Any, result: Any) -> Any:
        if len(logged) == 3:
            raise KeyboardInterrupt("killed mid-search")  # what a kill looks like in-process
        logged.append(proposal.index)
        return real_call(self, proposal, result)

    monkeypatch.setattr(running.TrialLogger, "__call__", crash_after_three)
    with pytest.raises(BaseException, match="killed mid-search"):
        retune(RetuneRequest(config_path=str(project)))
    monkeypatch.setattr(running.TrialLogger, "__call__", real_call)

    trained_again: list[int] = []
    with progress.listening(lambda done, budget, result: trained_again.append(done)):
        summary = retune(RetuneRequest(config_path=str(project)))
    assert summary.resumed
    assert len(trained_again) == BUDGET - 3
    trials = _trial_runs(project, summary.search_run_id)
    assert sorted(int(r.data.tags["trial_index"]) for r in trials) == list(range(BUDGET))
    assert len(_search_runs(project)) == 1


def test_panda_babysits_one_model_segment_by_segment(tmp_path: Path, template_store: Path) -> None:
    search = {
        "strategy": "panda",
        "seed": 0,
        "fixed": {"max_epochs": 40},
        "panda": {"segments": 3, "epochs_per_segment": 2},
    }
    config_path = make_project(tmp_path, template_store, search=search)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    # The session quiets Prefect to WARNING; the flow's INFO lines are what this test reads.
    flow_logger = logging.getLogger("prefect.flow_runs")
    level = flow_logger.level
    flow_logger.setLevel(logging.INFO)
    try:
        state = retune(RetuneRequest(config_path=str(config_path)), return_state=True)
    finally:
        flow_logger.setLevel(level)
    summary = state.result()
    assert summary.trials == 1 and summary.version == "1"
    trials = _trial_runs(config_path, summary.search_run_id)
    assert len(trials) == 1
    store = _store(config_path)
    client = store.client
    artifacts = {a.path for a in client.list_artifacts(trials[0].info.run_id)}
    assert "panda_decisions.json" in artifacts
    epochs = client.get_metric_history(trials[0].info.run_id, "learning_rate")
    assert 1 <= len(epochs) <= 3 * 2  # the epochs the babysitter trained, within its budget
    folder = client.download_artifacts(trials[0].info.run_id, "panda_decisions.json", str(tmp_path))
    decisions = json.loads(Path(folder).read_text())
    with get_client(sync_client=True) as prefect:  # one Prefect task run per segment
        runs = prefect.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="panda-segment"))
        )
    assert len(runs) == len(decisions["data"]) >= 1
    APILogHandler().flush()  # logs reach the server in batches; wait for this run's
    with get_client(sync_client=True) as prefect:  # each decision is in the flow run's log too
        flow_run = LogFilterFlowRunId(any_=[state.state_details.flow_run_id])
        logs = [log.message for log in prefect.read_logs(LogFilter(flow_run_id=flow_run))]
    said = [line for line in logs if line.startswith("panda segment ")]
    assert len(said) == len(runs) and any(line.startswith("window a-2024-01.csv") for line in logs)
    # Promoted, the configuration is refit on the whole window, replaying the rates the
    # babysitter chose; only that model is logged.
    (model,) = client.search_logged_models(
        experiment_ids=[trials[0].info.experiment_id],
        filter_string=f"source_run_id = '{summary.search_run_id}'",
    )
    assert model.params["fit"].startswith("refit on the whole window")


def test_a_bad_batch_fails_clearly_and_leaves_the_champion_and_runs_alone(project: Path) -> None:
    retune(RetuneRequest(config_path=str(project)))
    store = _store(project)
    before = champion(store)
    broken = batch(np.random.default_rng(3), "2024-02-01").astype({"x1": object})
    broken.loc[7, "x1"] = "twelve"
    land(project.parent, "b-2024-02", broken)
    with pytest.raises(DataError, match=r"b-2024-02\.csv, column 'x1'.*'twelve'"):
        retune(RetuneRequest(config_path=str(project)))
    with pytest.raises(DataError, match="'x1'"):
        check_drift(DriftCheckRequest(config_path=str(project)))
    after = champion(store)
    assert after is not None and before is not None and after.version == before.version
    assert len(_search_runs(project)) == 1


EXPLODING = {"optimizer": "sgd", "max_epochs": 4, "patience": None}


@pytest.mark.parametrize(
    "search",
    [
        {  # caviar: every trial's learning rate makes it diverge
            **TINY_SEARCH,
            "space": {"learning_rate": {"type": "log_uniform", "low": 1e4, "high": 1e5}},
            "fixed": EXPLODING,
        },
        {  # panda: a given schedule is followed, not corrected, into divergence
            "strategy": "panda",
            "fixed": EXPLODING,
            "panda": {"segments": 2, "epochs_per_segment": 2, "schedule": [1e4, 1e4]},
        },
    ],
    ids=["caviar", "panda"],
)
def test_a_search_without_an_ok_trial_fails_its_run_and_promotes_nothing(
    tmp_path: Path, template_store: Path, search: dict[str, Any]
) -> None:
    project = make_project(tmp_path, template_store, search=search)
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    with pytest.raises(SearchError, match="diverged"):
        retune(RetuneRequest(config_path=str(project)))
    (run,) = _search_runs(project)
    assert run.info.status == "FAILED" and "diverged" in run.data.tags["failure_reason"]
    store = _store(project)
    client = store.client
    assert champion(store) is None
    assert client.search_model_versions(f"name = '{store.name}'") == []
    (shown,) = project_status(store).searches  # what `driftune status` lists
    assert shown["status"] == "FAILED" and "diverged" in shown["failure_reason"]


def test_a_retune_that_fails_after_drift_says_the_check_is_kept_and_how_to_retry(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retune(RetuneRequest(config_path=str(project)))

    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated out of memory")

    # Every trial of the retune that the drift starts fails, the champion's configuration too.
    monkeypatch.setattr(BNSoftmaxClassifier, "fit", out_of_memory)
    land(project.parent, "b-2024-02", batch(np.random.default_rng(2), "2024-02-01", shift=1.5))
    hint = r"simulated out of memory.*drift check is recorded as run \w+.*driftune tune"
    with pytest.raises(SearchError, match=hint):
        check_drift(DriftCheckRequest(config_path=str(project)))
    assert check_drift(DriftCheckRequest(config_path=str(project))).status == "nothing new"
    store = _store(project)
    info = champion(store)
    assert info is not None and info.version == "1"


def test_a_drop_under_min_accuracy_drop_is_no_drift_and_says_why(
    tmp_path: Path, template_store: Path
) -> None:
    """drift.min_accuracy_drop is the config's: a flipped batch's drop of ~0.97 is under 0.99."""
    project = make_project(tmp_path, template_store, drift={"min_accuracy_drop": 0.99})
    land(tmp_path, "a-2024-01", batch(np.random.default_rng(0), "2024-01-01"))
    retune(RetuneRequest(config_path=str(project)))
    land(tmp_path, "b-2024-02", batch(np.random.default_rng(1), "2024-02-01", flip=True))
    checked = check_drift(DriftCheckRequest(config_path=str(project), start_retune=False))
    performance = checked.report.performance
    assert performance is not None and performance.p_value < 0.05
    assert 0.5 < performance.drop < 0.99 and performance.min_drop == 0.99
    assert not performance.drifted and not checked.drifted
    assert "significant, but under min_accuracy_drop 0.99: no drift" in checked.report.summary()
