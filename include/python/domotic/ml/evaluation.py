"""Honest evaluation: the rolling-origin backtest and the metrics (pure: frames in, numbers out).

Rolling origin: for every issue day ``o`` of the evaluated period the bundle is the one that production would
have served on ``o``: trained on what was known at the end of ``o`` (re-fitted every ``refit_every_days``, the
production retraining cadence, so the backtest never flatters it), fed the features known at ``o``'s issue
time (``domotic.ml.features``: the same code production uses), and scored on the actual values of ``o+1``
(and ``o+2`` for energy, where the forecast covers it), beside the naive baselines computed from the same
information.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from domotic.ml import features as F
from domotic.ml import models
from domotic.ml.history import History, hour_of_day_start

RELIABILITY_BINS = 10


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(predicted, float))))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual, float) - np.asarray(predicted, float)) ** 2)))


def brier(actual: np.ndarray, probability: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability, float) - np.asarray(actual, float)) ** 2))


def reliability(actual: np.ndarray, probability: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """Per probability bin [k/bins, (k+1)/bins): forecasts in it, their mean, and how often presence happened."""
    probability = np.asarray(probability, float)
    actual = np.asarray(actual, float)
    which = np.minimum((probability * bins).astype(int), bins - 1)
    table = []
    for k in range(bins):
        inside = which == k
        if inside.any():
            table.append({"bin": f"{k / bins:.1f}-{(k + 1) / bins:.1f}", "n": int(inside.sum()),
                          "mean_predicted": round(float(probability[inside].mean()), 4),
                          "observed_rate": round(float(actual[inside].mean()), 4)})
    return table


def energy_metrics(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """MAE and RMSE per apartment for the model and each baseline (rows: apartment, metric, predictor, value)."""
    out = []
    for apartment, group in scored.groupby("apartment"):
        for predictor, column in (("model", "prediction"), *((b, b) for b in F.ENERGY_BASELINES)):
            for metric, fn in (("mae", mae), ("rmse", rmse)):
                out.append({"apartment_id": apartment, "target": "energy_kwh", "metric": metric,
                            "predictor": predictor, "value": fn(group["y"], group[column]), "n": len(group)})
    return out


def presence_metrics(scored: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for apartment, group in scored.groupby("apartment"):
        for predictor, column in (("model", "prediction"), ("hour_of_week", "hour_of_week_baseline")):
            out.append({"apartment_id": apartment, "target": "presence", "metric": "brier", "predictor": predictor,
                        "value": brier(group["y"], group[column]), "n": len(group)})
    return out


def metric(rows: list[dict[str, Any]], apartment: str, target: str, name: str, predictor: str) -> float:
    for row in rows:
        if (row["apartment_id"], row["target"], row["metric"], row["predictor"]) == (apartment, target, name,
                                                                                   predictor):
            return float(row["value"])
    raise KeyError((apartment, target, name, predictor))


@dataclass
class Backtest:
    """Scored rows of every origin and the metrics computed from them."""

    first_day: date  # first and last target day evaluated
    last_day: date
    energy: pd.DataFrame
    presence: pd.DataFrame
    metrics: list[dict[str, Any]] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)
    fits: int = 0

    def improvement(self, apartment: str) -> dict[str, float]:
        """Relative improvement of the model over the better energy baseline (MAE) and over hour-of-week
        (Brier), per apartment: 0.10 means 10 % lower error."""
        best = min(metric(self.metrics, apartment, "energy_kwh", "mae", b) for b in F.ENERGY_BASELINES)
        energy = metric(self.metrics, apartment, "energy_kwh", "mae", "model")
        hour_of_week = metric(self.metrics, apartment, "presence", "brier", "hour_of_week")
        presence = metric(self.metrics, apartment, "presence", "brier", "model")
        return {"energy_mae_vs_best_baseline": 1 - energy / best if best else 0.0,
                "presence_brier_vs_hour_of_week": 1 - presence / hour_of_week if hour_of_week else 0.0}


def feature_frames(history: History, last_day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Energy and presence feature frames of every issue day from a week into the history up to ``last_day``."""
    days = models.issue_days_for_training(history, last_day)
    return F.energy_features(history, days), F.presence_features(history, days)


def issued_energy_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """What production issues: every hour of the next day; the day after only where the forecast covers it."""
    return frame[(frame["horizon"] <= 24) | models.weather_complete(frame)]


def backtest(history: History, last_day: date, days: int, refit_every_days: int,
             frames: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Backtest:
    """Rolling-origin backtest whose target days are the ``days`` days ending with ``last_day``."""
    energy, presence = frames or feature_frames(history, last_day)
    first_target = last_day - timedelta(days=days - 1)
    origins = [first_target - timedelta(days=1) + timedelta(days=i) for i in range(days)]
    if not origins or origins[0] < history.first_day + timedelta(days=models.MIN_TRAIN_DAYS + 1):
        raise models.NotEnoughHistory(f"a {days}-day backtest up to {last_day} needs history from "
                                      f"{first_target - timedelta(days=models.MIN_TRAIN_DAYS + 2)}")
    end_hour = hour_of_day_start(last_day) + 24
    scored_energy, scored_presence, bundle, fits = [], [], None, 0
    for i, origin in enumerate(origins):
        if bundle is None or i % refit_every_days == 0:
            bundle = models.fit(energy, presence, history, origin)
            fits += 1
        day_energy = issued_energy_rows(energy[energy["issue_day"] == origin])
        day_energy = day_energy[(day_energy["target_hour"] < end_hour) & day_energy["y"].notna()]
        day_presence = presence[(presence["issue_day"] == origin) & presence["y"].notna()]
        scored_energy.append(models.predict_energy(bundle, day_energy))
        scored_presence.append(models.predict_presence(bundle, day_presence))
    result = Backtest(first_target, last_day, pd.concat(scored_energy, ignore_index=True),
                      pd.concat(scored_presence, ignore_index=True), fits=fits)
    result.metrics = energy_metrics(result.energy) + presence_metrics(result.presence)
    result.reliability = reliability(result.presence["y"], result.presence["prediction"])
    return result


def gate(result: Backtest, min_improvement: float) -> dict[str, Any]:
    """The promotion gate: per apartment, energy MAE and presence Brier at least ``min_improvement`` below the
    better naive baseline (energy) and the hour-of-week frequency (presence)."""
    verdict: dict[str, Any] = {"min_improvement": min_improvement, "apartments": {}}
    passed = True
    for apartment in sorted(set(result.energy["apartment"]) | set(result.presence["apartment"])):
        gains = result.improvement(apartment)
        ok = all(np.isfinite(v) and v >= min_improvement for v in gains.values())
        verdict["apartments"][apartment] = {**{k: round(v, 4) for k, v in gains.items()}, "passed": ok}
        passed &= ok
    verdict["passed"] = bool(passed)
    return verdict
