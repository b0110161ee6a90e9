"""Issuing one day's forecasts: weather check and fallback, prediction rows, the idempotent write, the gates.

The run for logical date D issues at ``D+1 00:00 UTC``: energy for every hour of D+1 and, where the forecast
issued on D covers it, of D+2; presence for every room and hour of D+1. A missing or unusable weather forecast
never stops the run: those hours are predicted by the bundle's no-weather model and the rows say so
(``weather_used`` false, ``fallback_reason``); D+2 is then not issued. The rows of (model_version, D) are
replaced in one transaction together with a Gold ledger change for the forecast window, so Gold's next build
sets ``presence_prob`` of those minutes (docs/gold.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from domotic.gold import ledger
from domotic.ml import features as F
from domotic.ml import models
from domotic.ml.history import History, datetime_key, hour_of_day_start, moment_of, read_sql

LEDGER_SOURCE = "ml_forecast_daily"


class QualityGateError(RuntimeError):
    """An issue's forecasts failed a quality gate (the run fails; the rows stay for inspection)."""


@dataclass
class Issue:
    """One issue day's forecasts, ready to write."""

    issue_date: date
    model_version: str
    energy: pd.DataFrame
    presence: pd.DataFrame
    fallback_reason: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def issued_at(self) -> datetime:
        return datetime(self.issue_date.year, self.issue_date.month, self.issue_date.day, tzinfo=UTC) + timedelta(days=1)

    def summary(self) -> dict[str, Any]:
        energy = self.energy
        return {"issue_date": self.issue_date.isoformat(), "model_version": self.model_version,
                "issued_at": self.issued_at.isoformat(), "energy_rows": len(energy),
                "presence_rows": len(self.presence), "weather_used_rows": int(energy["weather_used"].sum()),
                "fallback_reason": self.fallback_reason, "notes": self.notes}


def weather_problem(frame: pd.DataFrame, issue_date: date) -> str | None:
    """Why the next day's weather features are unusable (None when every hour has a forecast)."""
    next_day = frame[frame["horizon"] <= 24]
    missing = int((~models.weather_complete(next_day)).sum())
    if missing == len(next_day):
        return f"no usable weather forecast issued on {issue_date.isoformat()}"
    if missing:
        return f"weather forecast of {issue_date.isoformat()} unusable for {missing} of {len(next_day)} hours"
    return None


def issue(bundle: models.Bundle, model_version: str, history: History, issue_date: date) -> Issue:
    """Predict the issue of ``issue_date`` from a history known up to its end (pure)."""
    energy = F.energy_features(history, [issue_date])
    problem = weather_problem(energy, issue_date)
    if problem:
        # the no-weather model for the whole next day; the day after needs a forecast
        energy = energy[energy["horizon"] <= 24].copy()
        energy[F.ENERGY_WEATHER] = np.nan
    else:
        energy = energy[(energy["horizon"] <= 24) | models.weather_complete(energy)]
    scored_energy = models.predict_energy(bundle, energy)
    scored_presence = models.predict_presence(bundle, F.presence_features(history, [issue_date]))
    notes = [] if problem else ([f"day after not issued: forecast covers {int((energy['horizon'] > 24).sum())} of "
                                 f"{24 * len(history.apartments)} hours"] if (energy["horizon"] > 24).sum()
                                < 24 * len(history.apartments) else [])
    return Issue(issue_date, model_version, scored_energy, scored_presence, problem, notes)


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def rows(result: Issue, apartment_keys: dict[str, int], run_id: str) -> list[dict[str, Any]]:
    """The gold.fact_ml_predictions rows of an issue."""
    common = {"model_version": result.model_version, "issue_date": result.issue_date, "issued_at": result.issued_at,
              "run_id": run_id}
    out = []
    for row in result.energy.itertuples(index=False):
        hour = int(row.target_hour)
        out.append({**common, **_cell(hour, int(row.horizon)), "target": "energy_kwh",
                    "apartment_key": apartment_keys[row.apartment], "apartment_id": row.apartment, "room_key": None,
                    "value_kwh": float(row.prediction), "probability": None,
                    "baseline_value": _number(row.mean_profile_4w), "weather_used": bool(row.weather_used),
                    "fallback_reason": None if row.weather_used else result.fallback_reason})
    for row in result.presence.itertuples(index=False):
        hour = int(row.target_hour)
        out.append({**common, **_cell(hour, int(row.horizon)), "target": "presence",
                    "apartment_key": apartment_keys[row.apartment], "apartment_id": row.apartment,
                    "room_key": int(row.room_key), "value_kwh": None, "probability": float(row.prediction),
                    "baseline_value": _number(row.hour_of_week_baseline), "weather_used": False,
                    "fallback_reason": None})
    return out


def _cell(hour: int, horizon: int) -> dict[str, Any]:
    start = moment_of(hour)
    return {"target_datetime_key": datetime_key(hour), "target_date_key": int(start.strftime("%Y%m%d")),
            "target_hour_start": start, "horizon_hours": horizon}


def write(conn: Any, result: Issue, apartment_keys: dict[str, int], run_id: str) -> int:
    """Replace the rows of (model_version, issue_date) and record the window for Gold, in one transaction."""
    payload = rows(result, apartment_keys, run_id)
    start = result.issued_at
    with conn.cursor() as cur:
        cur.execute(read_sql("predictions_delete.sql"), {"model_version": result.model_version,
                                                          "issue_date": result.issue_date})
        cur.executemany(read_sql("predictions_insert.sql"), payload)
        ledger.record_change(cur, "sensor", start, start + timedelta(days=1), LEDGER_SOURCE)
    conn.commit()
    return len(payload)


def gate_failures(conn: Any, issue_date: date, run_id: str, history: History) -> list[str]:
    """The quality gates of an issue day's rows (include/sql/ml/quality_gates.sql): the failures, empty when
    sound. Every apartment has every next-day hour once (and the day after at most once per hour), every room
    24 hours; probabilities in [0, 1]; kWh >= 0; no NaN."""
    params = {"issue_date": issue_date, "run_id": run_id, "apartments": list(history.apartments),
              "room_apartments": [a for a, _, _ in history.rooms], "room_keys": [k for _, k, _ in history.rooms]}
    failures = [row[0] for row in conn.execute(read_sql("quality_gates.sql"), params).fetchall()]
    conn.rollback()
    return failures


def issue_window(issue_date: date) -> tuple[datetime, datetime]:
    start = moment_of(hour_of_day_start(issue_date + timedelta(days=1)))
    return start, start + timedelta(days=1)


NAIVE_VERSION = "naive-baseline"


def naive_issue(history: History, issue_date: date, reason: str) -> Issue:
    """The issue when no bundle serves yet (too little history, or every candidate rejected): the naive
    baselines themselves, written under ``naive-baseline`` with the reason on every row, never a silent gap."""
    energy = F.energy_features(history, [issue_date])
    energy = energy[energy["horizon"] <= 24].copy()
    for name in F.ENERGY_BASELINES:
        energy[name] = energy[name].fillna(energy["mean_7d"]).fillna(energy["median_14d"])
    energy["prediction"] = energy["mean_profile_4w"].fillna(0.0).clip(lower=0.0)
    energy["weather_used"] = False
    presence = F.presence_features(history, [issue_date])
    presence["hour_of_week_baseline"] = (presence["hour_of_week"].fillna(presence["hour_freq_14d"])
                                         .fillna(presence["room_last_24h"]).fillna(0.5))
    presence["prediction"] = presence["hour_of_week_baseline"].clip(0.0, 1.0)
    return Issue(issue_date, NAIVE_VERSION, energy, presence, reason)
