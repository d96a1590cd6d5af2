"""After the search: judge, decide, refit on the window, log, register, carry out; each once.

Each step's result is recorded on the search run the moment it is done (tags ``driftune.gate``
and ``driftune.model``), and the version and the audit record are found again by the search
run's id, so a retune killed anywhere after its search resumes at the step it was in: it never
searches again, never registers a second version and never writes a second audit record. The
search run ends FINISHED only once the verdict is carried out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow import MlflowClient

from data.drift.profile import ReferenceProfile
from data.errors import DriftuneError
from data.window import TrainingData
from flows import failpoints, gate, tasks
from flows.cli import progress
from flows.config import ProjectConfig
from flows.cores import threads_per_trial
from flows.intake import champion_data_end
from flows.outages import ServerUnavailableError
from flows.store import registry, searches
from flows.store.handle import Store
from flows.store.packaging import LoggedModelRef
from flows.store.registry import ChampionInfo, load_champion_model
from flows.store.searches import CHAMPION_AT_START_TAG
from models.ensemble import Members
from models.estimator import BNSoftmaxClassifier
from models.promotion import PromotionDecision
from models.search.trials import TrialResult

GATE_TAG, MODEL_TAG = "driftune.gate", "driftune.model"


@dataclasses.dataclass
class _Judged:
    """The judged model, refit only when a step needs it (a resumed retune may not)."""

    config: ProjectConfig
    data: TrainingData
    best: TrialResult
    members: Members
    searched: BNSoftmaxClassifier | None
    candidate: gate.Candidate | None = None

    def get(self) -> gate.Candidate:
        if self.candidate is None:
            count = len(self.members)
            progress.report_activity(
                f"refitting the {count} chosen trial{'s' if count > 1 else ''} on train + "
                "validation"
            )
            self.candidate = tasks.refit_candidate(
                self.config,
                self.data,
                self.members,
                self.searched,
                n_threads=threads_per_trial(self.config),
            )
        return self.candidate


def conclude(
    store: Store,
    config: ProjectConfig,
    data: TrainingData,
    *,
    search_run_id: str,
    best: TrialResult,
    champion: ChampionInfo | None,
    members: Members | None = None,
    searched: BNSoftmaxClassifier | None = None,
) -> gate.GateOutcome:
    """Carry the search's chosen trials (``members``, an ensemble's with their weights; by
    default ``best`` alone) through the gate, resuming where a kill left off."""
    failpoints.reached("after-search")
    client = store.client
    tags = client.get_run(search_run_id).data.tags
    judged = _Judged(config, data, best, members or ((best, 1.0),), searched)
    with _step("the promotion gate", search_run_id):
        decision = _recorded_decision(tags) or _judge(store, config, data, champion, judged)
        decision = _held(store, tags, decision, registry.version_of_search(store, search_run_id))
        client.set_tag(search_run_id, GATE_TAG, json.dumps(decision.to_dict()))
    failpoints.reached("after-judge")
    with _step("the final model", search_run_id):
        model, fit = _recorded_model(tags) or _final_model(client, search_run_id, decision, judged)
    failpoints.reached("after-log-model")
    with _step("registration", search_run_id):
        version = tasks.register_candidate(
            store,
            model,
            search_run_id=search_run_id,
            data_sha256=data.sha256,
            decision=decision,
            fit=fit,
        )
    failpoints.reached("after-register")
    with _step(f"carrying out the verdict on version {version}", search_run_id):
        # Looked at again: a person may have moved the champion during the refit and logging.
        held = _held(store, tags, decision, version)
        if held is not decision:
            _record_overruled(store, search_run_id, version, held)
            decision = held
        record = tasks.carry_out(store, version, decision, search_run_id=search_run_id)
    return gate.GateOutcome(
        version=version,
        decision=decision,
        record=record,
        challenger_accuracy=decision.challenger_score,
        champion_accuracy=decision.champion_score,
        fit=fit,
    )


class RetuneStepError(DriftuneError):
    """A step after the search could not finish; a rerun resumes at that step."""


@contextmanager
def _step(name: str, search_run_id: str) -> Iterator[None]:
    """Say which step a driftune error stopped the retune at, and that a rerun resumes there."""
    progress.report_activity(name)
    try:
        yield
    except ServerUnavailableError:
        raise  # an outage says itself, with where the champion stands
    except DriftuneError as error:
        raise RetuneStepError(
            f"the retune stopped at {name} (search run {search_run_id}; the searched trials are "
            f"kept and a rerun resumes at this step): {error}"
        ) from error


def _judge(
    store: Store,
    config: ProjectConfig,
    data: TrainingData,
    champion: ChampionInfo | None,
    judged: _Judged,
) -> PromotionDecision:
    """The gate's verdict on holdout rows neither model was fitted on.

    A champion refit on a window that reaches into this holdout (nothing new since it was
    made) has learned those rows: it is judged, with the challenger, only on the newer ones;
    when fewer than ``window.min_rows`` are left, the gate says there is nothing new to judge on.
    """
    if champion is None:
        return tasks.decide(config, gate.holdout_predictions(data, judged.get().scorer, None))  # type: ignore[no-any-return]
    end = champion_data_end(searches.window_end(store.client, champion))
    rows = gate.unseen_by_champion(data, champion.tags, end)
    holdout = len(data.split.holdout)
    if len(rows) < config.window.min_rows:
        decision = tasks.decide(config, gate.holdout_predictions(data, judged.get().scorer, None))
        reason = gate.nothing_new(len(rows), holdout, end)
        return dataclasses.replace(decision, promote=False, reason=reason)
    champion_model = load_champion_model(store)
    predictions = gate.holdout_predictions(data, judged.get().scorer, champion_model, rows)
    decision = tasks.decide(config, predictions)
    if len(rows) < holdout:
        note = f" (judged on the {len(rows)} of {holdout} holdout rows newer than its data)"
        decision = dataclasses.replace(decision, reason=decision.reason + note)
    return decision  # type: ignore[no-any-return]


def _final_model(
    client: MlflowClient, search_run_id: str, decision: PromotionDecision, judged: _Judged
) -> tuple[LoggedModelRef, str]:
    """Log the model the version will hold, and the reference profile of the rows it learned."""
    config, data = judged.config, judged.data
    final = None
    if decision.promote and config.promotion.refit_on_window:
        progress.report_activity("refitting the promoted configuration on the whole window")
        final = tasks.refit_on_window(
            config, data, judged.members, n_threads=threads_per_trial(config)
        )
    if final is None:
        final = judged.get()
        if decision.promote and config.promotion.refit_on_window:
            final = dataclasses.replace(final, fit=f"{final.fit}; the refit on the window diverged")
    learned = data.window if final.on_window else data.reference
    drift = config.drift
    profile = ReferenceProfile.from_frame(
        learned, data.spec, seed=drift.seed, max_rows=drift.max_rows
    )
    tasks.save_profile(client, search_run_id, profile)
    model = tasks.log_candidate(client, search_run_id, data, final, judged.best)
    record = {"model": dataclasses.asdict(model), "fit": final.fit}
    client.set_tag(search_run_id, MODEL_TAG, json.dumps(record, default=str))
    return model, final.fit


def _held(
    store: Store, tags: dict[str, str], decision: PromotionDecision, own_version: str | None
) -> PromotionDecision:
    """The gate's promotion, refused when the champion was moved by hand while the retune ran.

    The search recorded the champion as it began; a champion other than that one (and other
    than this search's own version, which a resumed retune may have promoted already) was put
    there by a `driftune promote` or `rollback`, and a person's decision is never undone.
    """
    began = tags.get(CHAMPION_AT_START_TAG)
    if not decision.promote or began is None:
        return decision
    current = registry.champion(store)
    now = "" if current is None else current.version
    if now in (began, own_version):
        return decision
    reason = (
        f"refused: the champion changed while this retune ran (version {began or 'none'} as it "
        f"began, version {now or 'none'} now, moved by hand): a person's decision is not undone "
        f"(the gate alone found: {decision.reason.removeprefix('promoted: ')})"
    )
    return dataclasses.replace(decision, promote=False, reason=reason)


def _record_overruled(
    store: Store, search_run_id: str, version: str, decision: PromotionDecision
) -> None:
    """The refusal replaces the promotion already recorded on the search run and the version."""
    store.client.set_tag(search_run_id, GATE_TAG, json.dumps(decision.to_dict()))
    store.client.set_model_version_tag(store.name, version, "gate.decision", "refuse")
    store.client.set_model_version_tag(store.name, version, "gate.reason", decision.reason[:1000])


def _recorded_decision(tags: dict[str, str]) -> PromotionDecision | None:
    raw = tags.get(GATE_TAG)
    return None if raw is None else PromotionDecision.from_dict(json.loads(raw))


def _recorded_model(tags: dict[str, str]) -> tuple[LoggedModelRef, str] | None:
    raw = tags.get(MODEL_TAG)
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    return LoggedModelRef(**record["model"]), str(record["fit"])
