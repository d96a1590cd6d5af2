"""`driftune trust`: record the SHA-256 of a version registered before driftune recorded them.

Loading refuses a version without recorded hashes, since nothing could tell its artifacts from
tampered ones. After a person has reviewed such a version, this reads its three data files with
the strict readers (a file that is not plain data is refused here too), records their hashes on
the version and leaves an audit record saying who vouched for it and why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flows.store.audit import AuditRecord, new_record, write_audit
from flows.store.handle import Store
from flows.store.model_files import sha256_of
from flows.store.packaging import Scorer, download_artifact_files
from flows.store.registry import SHA256_PREFIX, RegistryError


def trust_version(
    store: Store,
    version: str,
    reason: str,
    *,
    who: str | None = None,
) -> AuditRecord:
    """Record the hashes of ``version``'s data files as they are now; audited."""
    client = store.client
    what = f"version {version} of {store.name!r}"
    tags = client.get_model_version(store.name, version).tags
    if any(key.startswith(SHA256_PREFIX) for key in tags):
        raise RegistryError(f"{what} has its SHA-256 recorded already: nothing to trust")
    uri = str(client.get_model_version_download_uri(store.name, version))
    with tempfile.TemporaryDirectory(prefix="driftune-trust-") as folder:
        paths = download_artifact_files(client, uri, Path(folder), what)
        Scorer.load(paths)  # data, strictly read, or refused before anything is recorded
        hashes = {name: sha256_of(path) for name, path in paths.items()}
    for name, digest in hashes.items():
        client.set_model_version_tag(store.name, version, SHA256_PREFIX + name, digest)
    record = new_record("trust", version, None, reason, "", {}, who)
    write_audit(store, record)
    return record
