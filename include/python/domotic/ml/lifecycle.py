"""When to retrain, and training a candidate through its backtest gate into the registry (no Airflow).

A run for issue day D (``maintain``):

1. finds the bundle serving D (``registry.serving``) and its live error: MAE of its next-day energy forecasts
   over the last ``live_window_days`` issue days whose targets Gold now holds, per apartment, stored in
   ``ml.metrics`` (scope 'live');
2. retrains when there is no serving bundle (``first``), when it is ``retrain_every_days`` old (``schedule``),
   or when an apartment's live MAE exceeds ``degradation_ratio`` x the bundle's backtest MAE (``degradation``:
   the caller raises an alert);
3. a candidate is trained on the history up to the end of D, backtested (rolling origin, same cadence),
   gated, written as an artifact and registered: promoted when it passed, rejected otherwise (the previous
   bundle keeps serving). A bundle already trained up to D is reused (re-runs train nothing twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from domotic.ml import evaluation, models, registry
from domotic.ml.history import History, datetime_key, hour_of_day_start, read_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """The lifecycle's settings (Variables ``ml_*``, read by ``domotic.ml.tasks``)."""

    model_dir: Path
    backtest_days: int = 14
    retrain_every_days: int = 1
    degradation_ratio: float = 1.3
    live_window_days: int = 7
    min_improvement: float = 0.0


@dataclass
class Outcome:
    """What ``maintain`` did, for the task log, the XCom and the alert."""

    issue_date: date
    serving_before: str | None
    trigger: str | None = None
    degraded: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    candidate: str | None = None
    promoted: bool | None = None
    gate: dict[str, Any] | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def live_error(conn: Any, serving: registry.Registered, issue_date: date, days: int) -> dict[str, dict[str, float]]:
    """Per apartment: the serving bundle's live next-day MAE over the issue days D-days..D-1 (targets <= D)."""
    first_issue = max(serving.train_end, issue_date - timedelta(days=days))
    last_issue = issue_date - timedelta(days=1)
    if last_issue < first_issue:
        return {}
    params = {"model_version": serving.model_version, "first_issue": first_issue, "last_issue": last_issue,
              "start_key": datetime_key(hour_of_day_start(first_issue + timedelta(days=1))),
              "end_key": datetime_key(hour_of_day_start(issue_date + timedelta(days=1)))}
    rows = conn.execute(read_sql("live_energy_errors.sql"), params).fetchall()
    conn.rollback()
    return {apartment: {"mae": float(mae), "n": int(n), "first_issue": first_issue.isoformat(),
                        "last_issue": last_issue.isoformat()} for apartment, mae, n in rows}


def backtest_mae(serving: registry.Registered, apartment: str) -> float | None:
    for row in serving.metrics.get("metrics", []):
        if (row["apartment_id"], row["target"], row["metric"], row["predictor"]) == (apartment, "energy_kwh", "mae",
                                                                                   "model"):
            return float(row["value"])
    return None


def degraded(serving: registry.Registered, live: dict[str, dict[str, float]], ratio: float) -> dict[str, Any]:
    """Apartments whose live MAE (at least a day of hours) exceeds ``ratio`` x the backtest MAE."""
    out = {}
    for apartment, found in live.items():
        reference = backtest_mae(serving, apartment)
        if reference and found["n"] >= 24 and found["mae"] > ratio * reference:
            out[apartment] = {"live_mae": round(found["mae"], 4), "backtest_mae": round(reference, 4),
                              "ratio": round(found["mae"] / reference, 3)}
    return out


def trigger_for(serving: registry.Registered | None, issue_date: date, policy: Policy,
                degradation: dict[str, Any]) -> str | None:
    if serving is None:
        return "first"
    if degradation:
        return "degradation"
    if (issue_date - serving.train_end).days >= policy.retrain_every_days:
        return "schedule"
    return None


def backtest_days(history: History, issue_date: date, wanted: int) -> int:
    """The backtest length the history allows (each origin needs a week of lags and a training day)."""
    available = (issue_date - history.first_day).days - models.MIN_TRAIN_DAYS - 1
    return max(0, min(wanted, available))


def train_candidate(conn: Any, history: History, issue_date: date, policy: Policy, *, trigger: str, now: datetime,
                    run_id: str) -> tuple[str, bool, dict[str, Any]]:
    """Backtest, gate, fit, write and register a bundle trained up to the end of ``issue_date``."""
    days = backtest_days(history, issue_date, policy.backtest_days)
    if days < 1:
        raise models.NotEnoughHistory(f"history from {history.first_day} is too short to backtest a model up to "
                                      f"{issue_date}")
    frames = evaluation.feature_frames(history, issue_date)
    result = evaluation.backtest(history, issue_date, days, policy.retrain_every_days, frames)
    verdict = evaluation.gate(result, policy.min_improvement)
    bundle = models.fit(*frames, history, issue_date)
    data = registry.serialise(bundle)
    version = registry.version_of(data, issue_date)
    artifact, sha256 = registry.write_artifact(policy.model_dir, version, data)
    metrics = {"metrics": result.metrics, "reliability": result.reliability, "backtest_days": days,
               "first_target_day": result.first_day.isoformat(), "last_target_day": result.last_day.isoformat(),
               "refits": result.fits, "rows": bundle.rows}
    registry.register(conn, version=version, bundle=bundle, trained_at=now, trigger=trigger, metrics=metrics,
                      gate=verdict, artifact=artifact, sha256=sha256, run_id=run_id)
    registry.record_metrics(conn, result.metrics, run_id=run_id, scope="backtest", version=version,
                            first_day=result.first_day, last_day=result.last_day)
    conn.commit()
    log.info("ml: trained %s (%s) on history up to %s; gate %s", version, trigger, issue_date, verdict)
    return version, bool(verdict["passed"]), verdict


def maintain(conn: Any, history: History, issue_date: date, policy: Policy, *, now: datetime,
             run_id: str) -> Outcome:
    """Evaluate the serving bundle, retrain when due, and register (and maybe promote) the candidate."""
    serving = registry.serving(conn, issue_date)
    conn.rollback()
    outcome = Outcome(issue_date, serving.model_version if serving else None)
    if serving is not None:
        outcome.live = live_error(conn, serving, issue_date, policy.live_window_days)
        live_rows = [{"apartment_id": a, "target": "energy_kwh", "metric": "mae", "predictor": "model",
                      "value": v["mae"], "n": v["n"]} for a, v in outcome.live.items()]
        registry.record_metrics(conn, live_rows, run_id=run_id, scope="live", version=serving.model_version,
                                first_day=issue_date - timedelta(days=policy.live_window_days - 1),
                                last_day=issue_date)
        conn.commit()
        outcome.degraded = degraded(serving, outcome.live, policy.degradation_ratio)
    outcome.trigger = trigger_for(serving, issue_date, policy, outcome.degraded)
    if outcome.trigger is None:
        return outcome
    existing = registry.trained_on(conn, issue_date)
    conn.rollback()
    if existing is not None:
        outcome.candidate, outcome.promoted = existing[0], existing[1] == "promoted"
        outcome.note = "a bundle trained up to this day exists: reused"
        return outcome
    try:
        version, promoted, verdict = train_candidate(conn, history, issue_date, policy, trigger=outcome.trigger,
                                                     now=now, run_id=run_id)
    except models.NotEnoughHistory as exc:
        outcome.note = f"not trained: {exc}"
        return outcome
    outcome.candidate, outcome.promoted, outcome.gate = version, promoted, verdict
    return outcome
