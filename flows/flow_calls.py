"""Running a flow for a CLI command, and telling what happened whatever its servers did.

The flow runs against the project's Prefect API (flows/prefect_api.py), its runs tagged with the
project and this process so a later retune can tell they were orphaned. Its return value is kept
as the flow function returns it: when the Prefect API dies after the work is done (the flow run's
final state cannot be recorded), that value is still the outcome, and the command reports it
with a note instead of failing a retune that happened. When a server fails before the end, the
one-line error says where the champion stands, read from the store before and after.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flows.config import ProjectConfig
from flows.outages import ServerUnavailableError, as_outage
from flows.prefect_api import project_api, quiet_prefect_console

AFTER_FAILURE_TIMEOUT_S = 5.0  # a second look at the champion: one quick try, no long wait


@dataclass(frozen=True)
class FlowOutcome:
    value: Any
    note: str | None = None  # set when the Prefect API failed after the flow's work was done


@contextmanager
def project_flows(config: ProjectConfig) -> Iterator[str]:
    """The project's Prefect API, a quiet console and owner tags on every flow run started."""
    from prefect import tags

    from flows.run_owner import run_tags

    with project_api(config.root) as url, tags(*run_tags(config.name)):
        quiet_prefect_console()
        yield url


def call_flow(config: ProjectConfig, flow: Any, *args: Any) -> FlowOutcome:
    """Run ``flow(*args)``; a server outage becomes one ServerUnavailableError."""
    before = champion_version(config)  # a tracking outage stops here, before anything runs
    returned: list[Any] = []
    with project_flows(config) as url:
        try:
            return FlowOutcome(_keeping_return_value(flow, returned)(*args))
        except Exception as error:
            outage = as_outage(error, "")
            if outage is None:
                raise
            if returned and not _from_tracking(outage):
                note = (
                    f"the {flow.name} finished, then the Prefect API {url} failed ({outage}): "
                    "the outcome above is what happened; the flow run's final state in the "
                    "Prefect UI may be missing"
                )
                return FlowOutcome(returned[0], note)
            raise type(outage)(f"{outage}{where_the_champion_stands(config, before)}") from error


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


def _from_tracking(outage: ServerUnavailableError) -> bool:
    return str(outage).startswith("the tracking server")


def champion_version(config: ProjectConfig) -> str | None:
    from flows.project import open_store
    from flows.status import read_champion

    tracking, client = open_store(config)
    found = read_champion(client, tracking)
    return None if found is None else found.version


def where_the_champion_stands(config: ProjectConfig, before: str | None) -> str:
    """'the champion is unchanged (version 3)', or what moved, or that the store cannot say."""
    was = "no champion" if before is None else f"version {before}"
    quick = config.tracking.model_copy(update={"timeout_s": AFTER_FAILURE_TIMEOUT_S})
    try:
        after = champion_version(config.model_copy(update={"tracking": quick}))
    except Exception as error:
        if as_outage(error, "") is None:
            raise
        return (
            f"; the champion was {was} before, and the store cannot be read to confirm that it "
            "did not move (a half-made move is finished by the next command)"
        )
    if after == before:
        return f"; nothing changed: the champion is unchanged ({was})"
    now = "no champion" if after is None else f"version {after}"
    return f"; the champion moved before the failure: {was} -> {now}"
