"""The task bodies of ``ml_forecast_daily``: the only module of the package that reads settings or opens
connections. A run for logical date D works on issue day D (forecasts for D+1 and D+2, issued at D+1 00:00 UTC).

numpy, pandas and scikit-learn are imported inside the functions: the DAG file imports this module, and parsing
it must stay cheap.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domotic.airflow_adapter import raise_alert, setting, warehouse_connection

if TYPE_CHECKING:
    from domotic.ml.history import History
    from domotic.ml.lifecycle import Policy

log = logging.getLogger(__name__)


def issue_day(logical_date: Any) -> date:
    """The UTC day of a run's logical date (the issue day)."""
    return date(logical_date.year, logical_date.month, logical_date.day)


def _site() -> str:
    return setting("weather_sites").split(",")[0].strip()


def _history(conn: Any, day: date) -> History:
    from domotic.ml.history import read_history

    first = day - timedelta(days=setting("ml_history_days") - 1)
    return read_history(conn, first, day, _site())


def _policy() -> Policy:
    from domotic.ml import lifecycle

    return lifecycle.Policy(
        model_dir=Path(setting("ml_model_dir")), backtest_days=setting("ml_backtest_days"),
        retrain_every_days=setting("ml_retrain_every_days"), degradation_ratio=setting("ml_degradation_ratio"),
        live_window_days=setting("ml_live_window_days"), min_improvement=setting("ml_gate_min_improvement"))


def gold_ready(logical_date: Any) -> bool:
    """Whether Gold is complete for the issue day: its last hour built, no Silver change pending up to it."""
    from domotic.ml.history import datetime_key, hour_of_day_start, moment_of, read_sql

    day = issue_day(logical_date)
    end_hour = hour_of_day_start(day + timedelta(days=1))
    params = {"last_hour_key": datetime_key(end_hour - 1), "end_key": datetime_key(end_hour),
              "day_end": moment_of(end_hour)}
    with warehouse_connection() as conn:
        last_hour_rows, pending = conn.execute(read_sql("gold_ready.sql"), params).fetchone()
    log.info("Gold for %s: %s house-meter rows in its last hour, %s pending changes up to it", day,
             last_hour_rows, pending)
    return last_hour_rows > 0 and pending == 0


def maintain_models(logical_date: Any, run_id: str, now: datetime) -> dict[str, Any]:
    """Live error of the serving model, retraining when due (schedule, degradation, none yet), the backtest
    gate and the registry. A degraded model raises an alert; a rejected candidate leaves the previous serving."""
    from domotic.ml import lifecycle

    day = issue_day(logical_date)
    policy = _policy()
    with warehouse_connection() as conn:
        history = _history(conn, day)
        outcome = lifecycle.maintain(conn, history, day, policy, now=now, run_id=run_id)
    if outcome.degraded:
        raise_alert("model_degraded", subject=f"forecast model {outcome.serving_before} degraded",
                    message=(f"The live energy error of model {outcome.serving_before} exceeds "
                             f"{policy.degradation_ratio} x its backtest error for {sorted(outcome.degraded)} "
                             f"(issue day {day}); retrained: {outcome.candidate or 'no'}, promoted: "
                             f"{outcome.promoted}."), degraded=outcome.degraded)
    if outcome.candidate and outcome.promoted is False:
        log.warning("ml: candidate %s failed its backtest gate (%s); %s keeps serving", outcome.candidate,
                    outcome.gate, outcome.serving_before or "the naive baseline")
    log.info("ml lifecycle for %s: %s", day, outcome.as_dict())
    return outcome.as_dict()


def issue_forecasts(logical_date: Any, run_id: str) -> dict[str, Any]:
    """Predict and write the issue of the day with the serving model (or the naive baseline when none serves)."""
    from domotic.ml import forecast, registry

    day = issue_day(logical_date)
    with warehouse_connection() as conn:
        history = _history(conn, day)
        serving = registry.serving(conn, day)
        conn.rollback()
        if serving is None:
            result = forecast.naive_issue(history, day, "no promoted model yet: the naive baselines are issued")
        else:
            bundle = registry.load_artifact(serving.artifact_path, serving.artifact_sha256)
            result = forecast.issue(bundle, serving.model_version, history, day)
        written = forecast.write(conn, result, history.apartment_keys, run_id)
    if result.fallback_reason:
        log.warning("ml: %s (recorded on the rows)", result.fallback_reason)
    start, end = forecast.issue_window(day)
    summary = {**result.summary(), "rows_written": written, "window_start": start.isoformat(),
               "window_end": end.isoformat()}
    log.info("ml issue: %s", summary)
    return summary


def check_forecasts(logical_date: Any, run_id: str) -> dict[str, Any]:
    """Quality gates of the issue: every cell present, probabilities in [0, 1], no NaN, kWh >= 0."""
    from domotic.ml import forecast

    day = issue_day(logical_date)
    with warehouse_connection() as conn:
        history = _history(conn, day)
        failures = forecast.gate_failures(conn, day, run_id, history)
    if failures:
        raise forecast.QualityGateError(f"forecasts issued on {day} failed their quality gates: {failures}")
    return {"issue_date": day.isoformat(), "run_id": run_id, "checks": "passed"}
