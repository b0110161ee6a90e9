"""Deferrable sensors: PredictedFileSensor waits for the exact sensor files of a run's minute, never listing the
share; GoldReadySensor waits until Gold is complete for a run's day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from domotic.ml.tasks import gold_ready, issue_day
from domotic.sensors.names import Apartment, ApartmentRegistry, predict_names
from domotic_airflow.triggers import GoldReadyTrigger, PredictedFilesTrigger, existing_names


def run_minute(context: Any) -> datetime:
    """The minute a run covers: its data interval start (minutely timetable), else the minute before it ran."""
    start = context.get("data_interval_start")
    if start is not None:
        return datetime.fromtimestamp(start.timestamp(), UTC).replace(second=0, microsecond=0)
    run_after = context["dag_run"].run_after
    return datetime.fromtimestamp(run_after.timestamp(), UTC).replace(second=0, microsecond=0) - timedelta(
        minutes=1
    )


def registry_of(apartments: list[list[str | None]]) -> ApartmentRegistry:
    """The registry from ``[[apartment_id, handle, source_tz or None], ...]`` (JSON-able, for XCom/templates)."""
    return ApartmentRegistry(Apartment(str(a), str(h), tz) for a, h, tz in apartments)


class PredictedFileSensor(BaseSensorOperator):
    """Waits for the files of the run's minute of every apartment active that day, then returns the names that
    arrived.

    The apartments come from the registry (``domotic.sensors.tasks.minute_apartments``: one small query per
    run), or from ``apartments`` (``[[apartment_id, handle, source_tz], ...]``) when given. The names are
    predicted from the minute (``domotic.sensors.names.predict_names``) and checked with one stat each. The wait
    ends when all files exist or ``wait_seconds`` after the minute has ended, whichever comes first; then the
    sensor succeeds with the files found, pushes the missing names to XCom (key ``missing``) and logs them. A missing minute is never a failure: ``sensors_daily`` reconciles it at night.

    Deferrable by default, whatever airflow.cfg says (``[operators] default_deferrable`` is False out of the
    box): the wait happens in the triggerer, which ends it at the sensor's own deadline
    (``PredictedFilesTrigger``), and ``timeout`` bounds the deferral as a safety net. ``deferrable=False`` runs
    the classic poke loop (``mode="reschedule"`` by default, freeing the worker slot between pokes).
    """

    template_fields = ("folder", "source_tz", "wait_seconds", "apartments")
    ui_color = "#c9e4f5"

    def __init__(
        self,
        *,
        folder: str,
        source_tz: str = "UTC",
        wait_seconds: int | str = 180,
        deferrable: bool = True,
        apartments: list[list[str | None]] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 5)
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.folder = folder
        self.source_tz = source_tz
        self.wait_seconds = wait_seconds
        self.deferrable = deferrable
        self.apartments = apartments

    def _plan(self, context: Any) -> tuple[list[str], datetime]:
        minute = run_minute(context)
        deadline = minute + timedelta(minutes=1, seconds=int(self.wait_seconds))
        if self.apartments is None:
            from domotic.sensors import tasks  # reads the registry through the warehouse connection

            self.apartments = tasks.minute_apartments(minute)
        return predict_names(minute, registry_of(self.apartments), self.source_tz), deadline

    def _finish(self, context: Any, names: list[str], found: list[str]) -> list[str]:
        missing = [name for name in names if name not in found]
        if missing:
            self.log.warning("Proceeding without %d missing file(s) in %s: %s", len(missing), self.folder, missing)
        else:
            self.log.info("All %d predicted files present: %s", len(found), found)
        context["ti"].xcom_push(key="missing", value=missing)
        return found

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        names, deadline = self._plan(context)
        found = existing_names(self.folder, names)
        if len(found) == len(names) or datetime.now(UTC) >= deadline:
            return self._finish(context, names, found)
        self.defer(
            trigger=PredictedFilesTrigger(self.folder, names, deadline.isoformat(), float(self.poke_interval)),
            method_name="execute_complete",
            # BaseSensorOperator.timeout only bounds the poke loop: a deferral needs its own bound.
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[str]:
        return self._finish(context, [*event["found"], *event["missing"]], event["found"])

    def poke(self, context: Any) -> PokeReturnValue:
        names, deadline = self._plan(context)
        found = existing_names(self.folder, names)
        if len(found) == len(names) or datetime.now(UTC) >= deadline:
            return PokeReturnValue(is_done=True, xcom_value=self._finish(context, names, found))
        return PokeReturnValue(is_done=False)


class GoldReadySensor(BaseSensorOperator):
    """Waits until Gold is complete for the run's UTC day (the logical date's day): its last hour has
    house-meter rows and no Silver change up to the end of the day is pending in Gold's work ledger
    (``domotic.ml.tasks.gold_ready``). Returns the day (ISO) when it is.

    Deferrable by default: one check in the worker, then, if Gold is not there yet, the wait happens in the
    triggerer (``GoldReadyTrigger``, a check every ``poke_interval`` seconds) with no worker slot held, and
    ``timeout`` bounds the deferral. ``deferrable=False`` pokes in reschedule mode instead.
    """

    ui_color = "#f5e6c9"

    def __init__(self, *, deferrable: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("poke_interval", 300)
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.deferrable = deferrable

    @staticmethod
    def _day(context: Any) -> date:
        return issue_day(context["logical_date"])

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        day = self._day(context)
        if gold_ready(day):
            return day.isoformat()
        self.log.info("Gold is not complete for %s yet: waiting in the triggerer (a check every %ss)", day,
                      self.poke_interval)
        self.defer(
            trigger=GoldReadyTrigger(day.isoformat(), float(self.poke_interval)),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        self.log.info("Gold is complete for %s (after %s check(s) in the triggerer)", event["day"], event["checks"])
        return event["day"]

    def poke(self, context: Any) -> PokeReturnValue:
        day = self._day(context)
        return PokeReturnValue(is_done=gold_ready(day), xcom_value=day.isoformat())
