"""Which --workdir `driftune demo` may delete: only a folder an earlier demo made.

Only a folder that carries the marker file a demo writes (``.driftune-demo``) is ever removed;
any other existing path is refused, so a mistyped ``--workdir`` cannot delete a user's files.
Plain Python on purpose: the demo command answers a refused folder before it imports Prefect,
MLflow or torch (seconds a user would wait for one line).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from data.errors import DriftuneError

MARKER = ".driftune-demo"
MARKER_TEXT = "Made by `driftune demo`, which deletes and recreates this folder on each run.\n"


class DemoFolderError(DriftuneError):
    """The demo's --workdir is a path the demo did not make; nothing was deleted."""


def check_demo_folder(workdir: Path) -> bool:
    """Whether ``workdir`` is an earlier demo's folder to remove; refuse other existing paths.

    False when it is absent or empty (used as it is); DemoFolderError for anything else.
    """
    if not (workdir.exists() or workdir.is_symlink()):
        return False
    if workdir.is_dir() and not workdir.is_symlink():
        marker = workdir / MARKER
        if marker.is_file() and not marker.is_symlink():
            return True
        if not any(workdir.iterdir()):
            return False
    raise DemoFolderError(
        f"{workdir} exists and is not a folder an earlier `driftune demo` made (it has no "
        f"{MARKER} file): nothing was deleted; pick another --workdir (or delete it yourself "
        "if an older driftune made it before demos were marked)"
    )


def clear_demo_folder(workdir: Path) -> None:
    """Remove an earlier demo's folder; refuse every other existing path, deleting nothing."""
    if not check_demo_folder(workdir):
        return
    try:
        shutil.rmtree(workdir)
    except OSError as error:
        raise DemoFolderError(f"cannot remove the earlier demo in {workdir}: {error}") from None
