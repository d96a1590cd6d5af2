"""Fault tests run the real `driftune` executable in subprocesses and break its servers for real.

They use the flow tests' real SQLite stores: the migrated template and the decoy.
"""

from __future__ import annotations

from tests.flow_tests.conftest import global_store_decoy, template_store

__all__ = ["global_store_decoy", "template_store"]
