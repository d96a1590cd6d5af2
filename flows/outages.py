"""Servers that do not answer, told in one line at the CLI boundary, and the bounds on waiting.

MLflow gives up with ``MlflowException("API request to <url> failed with exception ...")`` over
a ``requests`` error once its own retries are spent; Prefect's client lets httpx's transport
errors through. Either becomes one ``ServerUnavailableError`` naming the server, the error and
what it means for the project. Both clients retry with waits bounded here: one budget in
seconds becomes their retry counts and request timeouts, so an outage ends in a minute, not in
the quarter of an hour their defaults multiply to. Importing this module imports neither client.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

from data.errors import DriftuneError

PREFECT_TIMEOUT_ENV = "DRIFTUNE_PREFECT_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_MLFLOW_URL = re.compile(r"API request to (\S+?)/(?:api|ajax-api)/")


class ServerUnavailableError(DriftuneError):
    """A server driftune needs did not answer within its bounded retries."""


class TrackingUnavailableError(ServerUnavailableError):
    """The MLflow tracking server did not answer."""


class PrefectUnavailableError(ServerUnavailableError):
    """The Prefect API did not answer."""


def as_outage(error: BaseException, consequence: str) -> ServerUnavailableError | None:
    """The one-line error for a server that did not answer; None for any other error."""
    if isinstance(error, ServerUnavailableError):
        return error
    for link in _chain(error):
        found = _tracking_failure(link) or _prefect_failure(link)
        if found is not None:
            kind, server, reason = found
            cls = TrackingUnavailableError if kind == "tracking" else PrefectUnavailableError
            what = "the tracking server" if kind == "tracking" else "the Prefect API"
            tail = f"; {consequence}" if consequence else ""
            return cls(f"{what} {server} did not answer ({reason}){tail}")
    return None


def prefect_unavailable(url: str, reason: str, consequence: str) -> PrefectUnavailableError:
    return PrefectUnavailableError(
        f"the Prefect API {url} did not answer ({reason}); {consequence}"
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo += [link.__cause__, link.__context__]


def _tracking_failure(link: BaseException) -> tuple[str, str, str] | None:
    if "mlflow" not in sys.modules or "requests" not in sys.modules:
        return None  # an error from a client never imported cannot be its error
    import requests
    from mlflow.exceptions import MlflowException

    if isinstance(link, MlflowException):
        match = _MLFLOW_URL.search(link.message)
        if match and "failed with exception" in link.message:
            return "tracking", match.group(1), _reason(link.message)
    gave_up = requests.ConnectionError | requests.Timeout | requests.exceptions.RetryError
    if isinstance(link, gave_up):
        url = getattr(link.request, "url", None) or "(unknown URL)"
        return "tracking", _base(str(url)), _reason(str(link))
    return None


def _prefect_failure(link: BaseException) -> tuple[str, str, str] | None:
    if "httpx" not in sys.modules:
        return None
    import httpx

    if isinstance(link, httpx.TransportError):
        return "prefect", _httpx_url(link), _reason(str(link)) or type(link).__name__
    if isinstance(link, httpx.HTTPStatusError) and link.response.status_code >= 500:
        return "prefect", _base(str(link.request.url)), f"HTTP {link.response.status_code}"
    return None


def _httpx_url(error: BaseException) -> str:
    try:
        return _base(str(error.request.url))  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is set
        return "(unknown URL)"


def _reason(text: str) -> str:
    """The root cause in a few words: 'Connection refused', 'Read timed out', ..."""
    match = _ERRNO_REASON.search(text)
    if match:
        return match.group(1).strip()
    for phrase in ("Read timed out", "timed out", "too many", "Name or service not known"):
        index = text.find(phrase)
        if index >= 0:
            return text[index : index + 60].split("\n")[0].rstrip(".)'\"")
    return text.split("\n")[0][:120]


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def mlflow_request_bounds(timeout_s: float) -> dict[str, str]:
    """MLflow's HTTP retry settings whose waits add up to about ``timeout_s`` at most.

    urllib3 sleeps 0, 2f, 4f, ... seconds (f the backoff factor, 1 here) plus up to one second of
    jitter before each retry; each try may also wait a whole request timeout.
    """
    retries = 3 if timeout_s >= 20 else 1 if timeout_s >= 4 else 0
    backoff = {3: 9, 1: 1, 0: 0}[retries]
    per_try = max(1, int((timeout_s - backoff) / (retries + 1)))
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1.0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(per_try),
    }


def prefect_timeout_s() -> float:
    return seconds_from_env(PREFECT_TIMEOUT_ENV, DEFAULT_TIMEOUT_S, DriftuneError)


def seconds_from_env(name: str, default: float, error: type[Exception]) -> float:
    """A number of seconds from the environment variable ``name``; ``error`` when it is not one."""
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise error(f"{name}={raw!r} is not a number of seconds") from None


def prefect_client_bounds(timeout_s: float) -> dict[str, str]:
    """Prefect client settings whose waits add up to about ``timeout_s``: it sleeps 2, 4, 8 s."""
    retries = 3 if timeout_s >= 30 else 1
    backoff = {3: 14, 1: 2}[retries]
    per_try = max(5.0, (timeout_s - backoff) / (retries + 1))
    return {
        "PREFECT_CLIENT_MAX_RETRIES": str(retries),
        "PREFECT_API_REQUEST_TIMEOUT": f"{per_try:g}",
    }
