"""Library warnings go to the project's log file, not between the CLI's lines (`-v`: both).

MLflow, pandas, scikit-learn and torch warn through ``warnings.warn`` (MLflow's five-line hint
about integer columns in every model signature, say) or through their loggers (MLflow's own
stream handler, or logging's last-resort handler on stderr for loggers without one). During a
command both are routed to one file; with ``verbose`` they are shown on stderr as well. Prefect's
console handler is quieted elsewhere (flows/prefect_api.py): its logs reach its server.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_NAME = "driftune.log"
# Loggers that carry a handler of their own and do not propagate: routed like the root.
OWN_HANDLERS = ("mlflow",)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def library_warnings_to(log_file: Path, *, verbose: bool = False) -> Iterator[None]:
    """While inside: warnings and WARNING log records go to ``log_file`` (and stderr if verbose).

    The file is created at the first record, so a command with nothing to say writes nothing.
    """
    handlers: list[logging.Handler] = [_file_handler(log_file)]
    if verbose:
        shown = logging.StreamHandler(sys.stderr)
        shown.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(shown)
    for handler in handlers:
        handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    owners = [logging.getLogger(name) for name in OWN_HANDLERS]
    saved = [(logger, logger.handlers[:]) for logger in owners]
    logging.captureWarnings(True)  # the warnings filters still decide what is warned at all
    for handler in handlers:
        root.addHandler(handler)
    for logger in owners:
        logger.handlers = list(handlers)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for logger, kept in saved:
            logger.handlers = kept


def _file_handler(log_file: Path) -> logging.Handler:
    handler = _DeferredFileHandler(log_file)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


class _DeferredFileHandler(logging.FileHandler):
    """A file handler that makes the file (and its folder) only when a record comes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()
