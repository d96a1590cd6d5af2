"""Checks a project config makes at load, each raising a ValueError that pydantic ties to its key.

Each one refuses a value that would otherwise be accepted and fail later, in a trial, a flow run
or `driftune serve`: a tracking URI MLflow cannot open, a cron Prefect cannot schedule, a search
space whose values the estimator refuses. Heavy imports (torch through the estimator, Prefect's
cron parser) happen only when there is something to check.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

# The schemes MLflow's tracking store registry opens (mlflow/tracking/_tracking_service/utils.py):
# its SQLAlchemy engines with an optional driver, a tracking server, Databricks. The file store
# ("file:" or a bare path) is deprecated by MLflow and refused here.
DATABASE_SCHEME = re.compile(r"^(sqlite|postgresql|mysql|mssql)(\+[a-z0-9_]+)?$")
SERVER_SCHEMES = ("http", "https")
TRACKING_SCHEMES = (
    "sqlite, postgresql(+driver), mysql(+driver), mssql(+driver), http(s) or databricks"
)

# Set per trial from search.seed: a value in the space or in fixed would be overwritten unseen.
PER_TRIAL_SETTINGS = ("random_state",)


def check_tracking_uri(uri: str) -> str:
    """A URI MLflow opens as a tracking store that keeps its runs; the problem in words."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if uri == "databricks":  # MLflow's spelling for the default Databricks profile
        return uri
    if scheme in ("", "file") or (len(scheme) == 1 and scheme.isalpha()):
        raise ValueError(
            f"{uri!r} is a file store, which MLflow deprecates: use sqlite:///path/to/mlflow.db "
            "or a tracking server's http(s) URL"
        )
    if DATABASE_SCHEME.match(scheme):
        if scheme.startswith("sqlite") and parsed.path in ("", "/", "/:memory:"):
            raise ValueError(f"{uri!r} is an in-memory SQLite store: name a database file")
        return uri
    if scheme in SERVER_SCHEMES:
        if not parsed.hostname:
            raise ValueError(f"{uri!r} names no host")
        return uri
    if scheme == "databricks":
        return uri
    raise ValueError(f"unknown scheme {parsed.scheme!r} in {uri!r}; use {TRACKING_SCHEMES}")


def check_cron(expression: str) -> str:
    """A cron string Prefect's own schedule (and so `driftune serve`) accepts."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"{expression!r} is not a cron expression Prefect accepts (minute hour day month "
            f"weekday, e.g. '0 3 * * 0'): {reason}"
        ) from None
    return expression


def check_timezone(name: str) -> str:
    """An IANA time zone name, the set Prefect's schedules accept."""
    if name not in zoneinfo.available_timezones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'")
    return name


def check_every(rule: str | int) -> str | int:
    """A batch rule: "file", a positive row count, or a pandas period alias ("YS", "MS", "W")."""
    if isinstance(rule, bool):
        raise ValueError(f"expected 'file', a row count or a period alias, got {rule!r}")
    if isinstance(rule, int):
        if rule < 1:
            raise ValueError(f"a batch row count must be positive, got {rule}")
        return rule
    if rule == "file":
        return rule
    from pandas.tseries.frequencies import to_offset

    try:
        to_offset(rule)
    except ValueError:
        raise ValueError(
            f"{rule!r} is neither 'file', a row count nor a pandas period alias "
            "('YS' yearly, 'MS' monthly, 'W' weekly, 'D' daily)"
        ) from None
    return rule


def check_fixed_settings(fixed: Mapping[str, Any]) -> None:
    """search.fixed: known estimator settings with values the estimator accepts."""
    from models.settings import DEFAULTS, check_settings

    unknown = sorted(set(fixed) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown estimator settings {unknown}; known: {sorted(DEFAULTS)}")
    _refuse_per_trial(fixed)
    check_settings(fixed)  # a bad value fails here, not per trial


def check_space_settings(space: Mapping[str, Any], fixed: Mapping[str, Any]) -> None:
    """Every searched name an estimator setting, and every bound and choice a valid value of it.

    ``space`` is a parsed SearchSpace; each distribution's ``edges`` (its bounds, or each of
    its choices) is checked with the ``fixed`` settings beside it, as a trial would build it.
    """
    from models.settings import DEFAULTS as defaults
    from models.settings import check_settings

    unknown = sorted(set(space) - set(defaults))
    if unknown:
        searchable = [name for name in defaults if name not in PER_TRIAL_SETTINGS]
        raise ValueError(
            f"{', '.join(unknown)}: not estimator settings; searchable: {', '.join(searchable)}"
        )
    _refuse_per_trial(space)
    for name, distribution in space.items():
        for value in distribution.edges():
            problem = _setting_problem(name, value, defaults[name])
            if problem is None:
                try:
                    check_settings({**fixed, name: value})
                except (ValueError, TypeError) as error:
                    problem = str(error)
            if problem is not None:
                raise ValueError(f"{name}: {value!r} is not a valid setting: {problem}")


def check_no_overlap(space: Mapping[str, Any], fixed: Mapping[str, Any]) -> None:
    """A setting is either searched or fixed: in both, which one a trial used is a guess."""
    both = sorted(set(space) & set(fixed))
    if both:
        raise ValueError(
            f"{', '.join(both)}: set in both search.space and search.fixed; keep each in one"
        )


def _setting_problem(name: str, value: Any, default: Any) -> str | None:
    """A value of the wrong kind for its setting (a float number of layers, a numeric name).

    The kind is the default's: ``check_settings`` compares values but does not check types.
    """
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, bool) or default is None:
        return None
    if isinstance(default, int) and not (is_number and isinstance(value, int)):
        return f"{name} is a whole number: use IntUniform, PowerOfTwo or a Choice of integers"
    if isinstance(default, float) and not is_number:
        return f"{name} is a number"
    if isinstance(default, str) and not isinstance(value, str):
        return f"{name} is text"
    return None


def _refuse_per_trial(settings: Mapping[str, Any]) -> None:
    chosen = sorted(set(settings) & set(PER_TRIAL_SETTINGS))
    if chosen:
        raise ValueError(f"{', '.join(chosen)}: set per trial from search.seed; leave it out")
