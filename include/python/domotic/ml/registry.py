"""The model lifecycle's storage: artifacts in a folder (atomic, checksummed) and the registry in the warehouse.

Every trained bundle gets a row in ``ml.model_registry`` (version, training window, features, parameters,
library versions, backtest metrics, the gate's verdict, artifact path and sha256), promoted or not. A promoted
bundle serves every issue day from its ``train_end`` on, until a later promoted one: ``serving(conn, day)``
picks the latest promoted bundle trained on data up to that day, so a backfill of an old day never uses a model
that saw later data, and a bundle that failed its gate (``rejected``) never serves: the previous one keeps
serving. Functions take an open psycopg connection and plain values.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from domotic.maintenance.atomic import atomic_path, sha256_file
from domotic.ml.history import read_sql
from domotic.ml.models import Bundle, library_versions


class ArtifactError(RuntimeError):
    """A model artifact is missing or does not match its registered checksum."""


@dataclass(frozen=True)
class Registered:
    model_version: str
    train_end: date
    artifact_path: str
    artifact_sha256: str
    metrics: dict[str, Any]
    trigger: str


def serialise(bundle: Bundle) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(bundle, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def version_of(bundle_bytes: bytes, train_end: date) -> str:
    """``m<train_end>-<first 10 hex of the artifact's sha256>``: the same data and code give the same version."""
    return f"m{train_end:%Y%m%d}-{hashlib.sha256(bundle_bytes).hexdigest()[:10]}"


def write_artifact(folder: Path, version: str, data: bytes) -> tuple[Path, str]:
    """Write ``<folder>/<version>.pkl`` atomically (temporary, fsync, rename); return its path and sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{version}.pkl"
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return final, sha256_file(final)


def load_artifact(path: str, expected_sha256: str) -> Bundle:
    """Unpickle a registered artifact after checking its checksum (our own files only: never untrusted ones)."""
    file = Path(path)
    if not file.is_file():
        raise ArtifactError(f"model artifact {path} is missing (check the ml_model_dir setting)")
    actual = sha256_file(file)
    if actual != expected_sha256:
        raise ArtifactError(f"model artifact {path} has sha256 {actual}, the registry says {expected_sha256}")
    with file.open("rb") as handle:
        return pickle.load(handle)


def register(conn: Any, *, version: str, bundle: Bundle, trained_at: datetime, trigger: str,
             metrics: dict[str, Any], gate: dict[str, Any], artifact: Path, sha256: str, run_id: str) -> None:
    """One registry row (in the caller's transaction; an existing version is left as it is)."""
    conn.execute(read_sql("registry_insert.sql"), {
        "model_version": version, "trained_at": trained_at, "train_start": bundle.train_start,
        "train_end": bundle.train_end, "trigger": trigger, "features": json.dumps(bundle.features),
        "params": json.dumps(Bundle.params(), default=str), "library_versions": json.dumps(library_versions()),
        "metrics": json.dumps(metrics, default=float), "gate": json.dumps(gate, default=float),
        "status": "promoted" if gate.get("passed") else "rejected", "artifact_path": str(artifact),
        "artifact_sha256": sha256, "run_id": run_id})


def serving(conn: Any, issue_date: date) -> Registered | None:
    """The bundle that serves ``issue_date`` (latest promoted with train_end <= it), or None."""
    row = conn.execute(read_sql("registry_serving.sql"), {"issue_date": issue_date}).fetchone()
    return Registered(*row) if row else None


def trained_on(conn: Any, train_end: date) -> tuple[str, str] | None:
    """(version, status) of a bundle already trained up to ``train_end``, if any."""
    row = conn.execute(read_sql("registry_trained_on.sql"), {"train_end": train_end}).fetchone()
    return (row[0], row[1]) if row else None


def record_metrics(conn: Any, rows: list[dict[str, Any]], *, run_id: str, scope: str, version: str,
                   first_day: date, last_day: date) -> None:
    for row in rows:
        conn.execute(read_sql("metrics_insert.sql"), {**row, "run_id": run_id, "scope": scope,
                                                      "model_version": version, "first_day": first_day,
                                                      "last_day": last_day})
