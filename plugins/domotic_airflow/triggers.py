"""Trigger for PredictedFileSensor: waits in the triggerer for exact file paths, off the event loop.

Lives in plugins/ (not dags/) because the triggerer imports triggers by class path and does not load DAG
bundles (apache/airflow#65455).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def existing_names(folder: str, names: list[str]) -> list[str]:
    """The names that exist in ``folder`` (one stat each; never lists the share)."""
    return [name for name in names if os.path.exists(os.path.join(folder, name))]


class PredictedFilesTrigger(BaseTrigger):
    """Fires when every predicted file exists, or at ``deadline`` with whatever has arrived by then.

    It never fails for a missing file: the event says which names were found and which were missing. Running
    twice (e.g. after a triggerer restart) gives the same kind of event, so it is safe to re-run.
    """

    def __init__(self, folder: str, names: list[str], deadline: str, poke_interval: float = 5.0) -> None:
        super().__init__()
        self.folder = folder
        self.names = list(names)
        self.deadline = deadline  # ISO-8601 UTC; serialisable, unlike a datetime in older triggerers
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "domotic_airflow.triggers.PredictedFilesTrigger",
            {"folder": self.folder, "names": self.names, "deadline": self.deadline,
             "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        while True:
            # File-system calls block (an SMB mount can stall): run them in a worker thread.
            found = await asyncio.to_thread(existing_names, self.folder, self.names)
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if len(found) == len(self.names) or remaining <= 0:
                missing = [name for name in self.names if name not in found]
                yield TriggerEvent({"found": found, "missing": missing, "timed_out": bool(missing)})
                return
            await asyncio.sleep(max(0.05, min(self.poke_interval, remaining)))
