"""Running a flow for a CLI command, and telling what happened whatever its servers did.

The flow runs against the project's Prefect API (flows/prefect_api.py). When that API dies, the
flow's own work (MLflow, the registry) may still have been done, so the command says what the
store shows instead of failing a retune that happened (a scheduler would run it again):

- the flow function returned (only recording the flow run's final state failed): its return
  value is the outcome, shown as usual, with a note;
- it failed after the promotion gate decided (a Prefect artifact, say): the decision the store
  records for the new version is the outcome, in a note;
- it failed before: one line saying where the champion stands, read before and after.

A tracking server that fails is one line with where the champion stands, as far as it can tell.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flows.config import ProjectConfig
from flows.outages import PrefectUnavailableError, ServerUnavailableError, as_outage
from flows.prefect_api import project_api, quiet_prefect_console

AFTER_FAILURE_TIMEOUT_S = 5.0  # a second look at the store: one quick try, no long wait


@dataclass(frozen=True)
class FlowOutcome:
    value: Any  # what the flow returned; None when only the store tells the outcome
    note: str | None = None  # set when the Prefect API failed after the flow's work was done


@dataclass(frozen=True)
class Registry:
    """The two facts about the registered model a command compares before and after."""

    champion: str | None
    latest: int  # the newest version number, 0 when there is none


@contextmanager
def project_flows(config: ProjectConfig) -> Iterator[str]:
    """The project's Prefect API and a quiet console."""
    with project_api(config.root) as url:
        quiet_prefect_console()
        yield url


def call_flow(
    config: ProjectConfig, flow: Any, *args: Any, missing_store_ok: bool = False
) -> FlowOutcome:
    """Run ``flow(*args)``; a server outage becomes a note or one ServerUnavailableError.

    With ``missing_store_ok`` (a retune, which makes it; a backtest, which never reads it) the
    project may have no store yet; otherwise a missing store is one line here, before any flow runs.
    """
    # A tracking outage, or a store that cannot be used, stops here, before anything runs.
    before = read_registry(config, missing_ok=missing_store_ok)
    returned: list[Any] = []
    with project_flows(config):
        try:
            return FlowOutcome(_keeping_return_value(flow, returned)(*args))
        except Exception as error:
            outage = as_outage(error, "")
            if outage is None:
                raise
            if isinstance(outage, PrefectUnavailableError):
                told = _told_despite_prefect(config, flow.name, outage, before, returned)
                if told is not None:
                    return told
            raise type(outage)(f"{outage}{where_the_champion_stands(config, before)}") from error


def _told_despite_prefect(
    config: ProjectConfig,
    flow_name: str,
    outage: ServerUnavailableError,
    before: Registry,
    returned: list[Any],
) -> FlowOutcome | None:
    failed = f"then {outage}"
    if returned:
        return FlowOutcome(
            returned[0],
            f"the {flow_name} finished, {failed}: the outcome above is what happened; its "
            "flow run in the Prefect UI may lack its final state",
        )
    decided = decided_since(config, before)
    if decided is None:
        return None
    version, gate = decided
    return FlowOutcome(
        None,
        f"the {flow_name}'s promotion gate {gate} version {version} (as the store records), "
        f"{failed}: that decision stands; its leaderboard and flow run in the Prefect UI may "
        "be missing",
    )


def _keeping_return_value(flow: Any, returned: list[Any]) -> Any:
    """A copy of ``flow`` whose function also keeps what it returns in ``returned``."""
    original = flow.fn

    @functools.wraps(original)
    def keep(*args: Any, **kwargs: Any) -> Any:
        value = original(*args, **kwargs)
        returned.append(value)
        return value

    # Prefect validates parameters against the signature; resolved here, since the flow's
    # module writes its annotations as strings that only that module can resolve.
    keep.__signature__ = inspect.signature(original, eval_str=True)  # type: ignore[attr-defined]
    copy = flow.with_options()
    copy.fn = keep  # what Prefect's engine calls; parameters and name stay the flow's
    return copy


def read_registry(config: ProjectConfig, *, missing_ok: bool = False) -> Registry:
    """The champion and newest version; with ``missing_ok``, none of either while no store is
    made (a first tune)."""
    from flows.cli.status import read_champion
    from flows.store.local_store import StoreMissingError
    from flows.store.project import open_store

    try:
        store = open_store(config)
    except StoreMissingError:
        if not missing_ok:
            raise
        return Registry(champion=None, latest=0)
    champion = read_champion(store)
    newest = store.client.search_model_versions(
        f"name = '{store.name}'", max_results=1, order_by=["version_number DESC"]
    )
    return Registry(
        champion=None if champion is None else champion.version,
        latest=int(newest[0].version) if newest else 0,
    )


def decided_since(config: ProjectConfig, before: Registry) -> tuple[str, str] | None:
    """The newest version registered since ``before`` and its gate decision, if it has one."""
    from flows.store.project import open_store

    try:
        store = open_store(_quick(config))
        newest = store.client.search_model_versions(
            f"name = '{store.name}'", max_results=1, order_by=["version_number DESC"]
        )
    except Exception as error:
        if as_outage(error, "") is None:
            raise
        return None
    if not newest or int(newest[0].version) <= before.latest:
        return None
    gate = newest[0].tags.get("gate")
    return (str(newest[0].version), gate) if gate in ("promoted", "refused") else None


def where_the_champion_stands(config: ProjectConfig, before: Registry) -> str:
    """'the champion is unchanged (version 3)', or what moved, or that the store cannot say."""
    was = "no champion" if before.champion is None else f"version {before.champion}"
    try:
        after = read_registry(_quick(config), missing_ok=True).champion
    except Exception as error:
        if as_outage(error, "") is None:
            raise
        return (
            f"; the champion was {was} before, and the store cannot be read to confirm that it "
            "did not move (a half-made move is finished by the next command)"
        )
    if after == before.champion:
        return f"; nothing changed: the champion is unchanged ({was})"
    now = "no champion" if after is None else f"version {after}"
    return f"; the champion moved before the failure: {was} -> {now}"


def _quick(config: ProjectConfig) -> ProjectConfig:
    """The config with a short tracking timeout: a look after a failure must not wait long."""
    quick = config.tracking.model_copy(update={"timeout_s": AFTER_FAILURE_TIMEOUT_S})
    return config.model_copy(update={"tracking": quick})
