"""Fault tests run the real `driftune` executable in subprocesses and break its servers for real.

Their projects' stores start as copies of the session's migrated template (tests/conftest.py).
"""
