"""Flow runs left RUNNING by a process that was killed: found by their tags, marked CRASHED.

A SIGKILLed `driftune tune` cannot tell Prefect that its flow run ended, so the run would show
as running for good. A retune that takes the lock tags its flow run (and the check-drift run that
started it) with the project and its process (flows/run_owner.py); the next retune of the
project, once it holds the lock, marks each RUNNING run whose process is gone as CRASHED.
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.states import Crashed

from flows.run_owner import Owner, project_tag, run_tags

logger = logging.getLogger(__name__)
LIVE_STATES = [StateType.RUNNING, StateType.PENDING]


def tag_current_flow_run(project: str) -> None:
    """Tag the running flow run, and the flow run that started it, as this process's.

    Flow runs only, never through ``prefect.tags()``: tagged task runs would each ask the
    API for tag concurrency slots, so every task would then need the server.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    wanted = set(run_tags(project))
    with get_client(sync_client=True) as client:
        runs = [context.flow_run]
        if context.flow_run.parent_task_run_id is not None:  # a subflow: tag its parent too
            parent = client.read_task_run(context.flow_run.parent_task_run_id)
            if parent.flow_run_id is not None:
                runs.append(client.read_flow_run(parent.flow_run_id))
        for run in runs:
            if not wanted <= set(run.tags):
                client.update_flow_run(run.id, tags=sorted(set(run.tags) | wanted))


def crash_orphans(project: str) -> list[FlowRun]:
    """Mark the project's live flow runs whose process is gone as CRASHED; returns them."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[project_tag(project)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=LIVE_STATES)),
            ),
            limit=200,
        )
        orphans = [run for run in runs if _gone_owner(run) is not None]
        for run in orphans:
            owner = _gone_owner(run)
            assert owner is not None
            message = (
                f"its process ({owner.describe()}) is gone; marked crashed by the next retune "
                f"of {project!r}"
            )
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            logger.warning("flow run %s (%s): %s", run.name, run.id, message)
    return orphans


def _gone_owner(run: FlowRun) -> Owner | None:
    for tag in run.tags:
        owner = Owner.from_tag(tag)
        if owner is not None:
            return owner if owner.is_gone() else None
    return None
