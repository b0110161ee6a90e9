"""Triggers of the deferrable sensors: PredictedFilesTrigger (PredictedFileSensor: exact file paths) and
GoldReadyTrigger (GoldReadySensor: Gold complete for a day). Both wait in the triggerer, off the event loop.

Lives in plugins/ (not dags/) because the triggerer imports triggers by class path and does not load DAG
bundles (apache/airflow#65455).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
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


class GoldReadyTrigger(BaseTrigger):
    """Fires once Gold is complete for the UTC day ``day`` (``domotic.ml.tasks.gold_ready``: its last hour built,
    no Silver change pending in Gold's work ledger up to it), checking every ``poke_interval`` seconds.

    The check opens the warehouse through ``PostgresHook``, whose connection lookup is synchronous: it runs
    through ``sync_to_async``, the way Airflow's own triggers call a synchronous hook. A failing check (the
    warehouse down) ends the trigger with the error, so the task fails and retries like any other. The bound
    on the wait is the deferral's ``timeout``, set by the sensor. Re-running it gives the same event.
    """

    def __init__(self, day: str, poke_interval: float = 300.0) -> None:
        super().__init__()
        self.day = day  # ISO date: serialisable
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("domotic_airflow.triggers.GoldReadyTrigger", {"day": self.day, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from domotic.ml.tasks import gold_ready

        day = date.fromisoformat(self.day)
        checks = 0
        while True:
            checks += 1
            if await sync_to_async(gold_ready)(day):
                yield TriggerEvent({"day": self.day, "ready": True, "checks": checks})
                return
            await asyncio.sleep(self.poke_interval)
