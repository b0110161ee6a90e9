"""The models: a bundle of three scikit-learn HistGradientBoosting models trained together (pure, no I/O).

* ``energy``: kWh per apartment and hour, with the weather forecast's features (pooled, and per apartment);
* ``energy_no_weather``: the same without them, the fallback when the forecast is missing or unusable;
* ``presence``: probability of presence per room and hour (a classifier with log loss, so its probabilities are
  calibrated; the backtest reports its Brier score and reliability table).

The energy models minimise the absolute error (their prediction is a conditional median: the target metric is
MAE and hourly kWh is very skewed: a machine runs or it does not); the issued kWh is the equal-weight mean of
that prediction and the 14-day median of the same hour (``ENERGY_BLEND``), which is steadier than either.
Each apartment with ``MIN_OWN_MODEL_DAYS`` days of history has energy models of its own (an apartment's load is
its own kind: a heat pump or none, its boiler's release time); the pooled pair, fitted on every apartment with
the apartment as a categorical feature, serves the others, so a new apartment starts from what the others
taught. One presence model serves every room (room and apartment are categorical features). Fixed seeds: the
same data gives the same model, bit for bit.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from domotic.ml import features as F
from domotic.ml.history import History, hour_of_day_start

SEED = 20231027
# Few, large leaves: ~50 days of hourly kWh is a small, noisy sample; a deeper model learnt noise (docs/ml.md §5).
ENERGY_PARAMS = {"loss": "absolute_error", "max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 8,
                 "min_samples_leaf": 100, "random_state": SEED}
# The issued energy forecast is the equal-weight mean of the model and the robust profile it was fed (the median
# of the same hour over the last 14 days): a fixed combination, not a fitted one, so it cannot overfit.
ENERGY_BLEND = 0.5
# Days of training rows from which an apartment's kWh is forecast by energy models of its own rather than the
# pooled ones: the pooled model's few leaves mixed a flat's quiet hours with a heat-pump house's busy ones, and own
# models did better over the seeds and windows tried (docs/ml.md §5); two weeks is ~670 rows, a few of its
# 100-row leaves.
MIN_OWN_MODEL_DAYS = 14
# The issued presence probability, like the energy forecast: the equal-weight mean of the classifier and the
# room's hour-of-week frequency.
PRESENCE_BLEND = 0.5
PRESENCE_PARAMS = {"loss": "log_loss", "max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 8,
                   "min_samples_leaf": 200, "l2_regularization": 1.0, "random_state": SEED}
# Single-threaded: on a small data set and a shared 2-core worker, OpenMP's threads cost more than they save
# (a backtest took 6.9 s with two threads, 4.4 s with one, on a loaded machine).
THREADS = 1
MIN_TRAIN_DAYS = 7  # issue days start a week into the history (the lags need it)


class NotEnoughHistory(ValueError):
    """Too little history to train (or to evaluate) a model."""


@dataclass
class Bundle:
    """Three fitted models and what they were fitted on."""

    energy: object
    energy_no_weather: object
    presence: object
    apartments: list[str]
    rooms: list[tuple[str, int, str]]
    train_start: date
    train_end: date
    rows: dict[str, int] = field(default_factory=dict)
    # apartment -> its own (energy, energy_no_weather) models; apartments not in it use the pooled pair
    energy_own: dict[str, tuple[object, object]] = field(default_factory=dict)

    @property
    def features(self) -> dict[str, list[str]]:
        """The columns each model was fitted on (a bundle promoted before a feature was added keeps serving), and
        the apartments with energy models of their own (fitted on the pooled columns but the apartment's code)."""
        return {"energy": columns_of(self.energy), "energy_no_weather": columns_of(self.energy_no_weather),
                "presence": columns_of(self.presence), "energy_own_apartments": sorted(self.own_energy())}

    def own_energy(self) -> dict[str, tuple[object, object]]:
        """The apartments' own energy models (none in a bundle pickled before they existed: it keeps serving)."""
        return self.__dict__.get("energy_own", {})

    def energy_models(self, apartment: str) -> tuple[object, object]:
        """(with weather, without) serving ``apartment``: its own pair, else the pooled one."""
        return self.own_energy().get(apartment, (self.energy, self.energy_no_weather))

    @staticmethod
    def params() -> dict[str, object]:
        return {"energy": ENERGY_PARAMS, "energy_no_weather": ENERGY_PARAMS, "presence": PRESENCE_PARAMS,
                "energy_own_models_from_days": MIN_OWN_MODEL_DAYS,
                "issued": {"energy": f"{ENERGY_BLEND} model + {1 - ENERGY_BLEND} median_14d",
                           "presence": f"{PRESENCE_BLEND} model + {1 - PRESENCE_BLEND} hour_of_week"}}


def columns_of(model: object) -> list[str]:
    """The feature columns a fitted scikit-learn model was fitted on, in order."""
    return [str(c) for c in model.feature_names_in_]  # type: ignore[attr-defined]


def library_versions() -> dict[str, str]:
    import sklearn

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__}


def issue_days_for_training(history: History, train_end: date) -> list[date]:
    first = history.first_day
    return [first + timedelta(days=i) for i in range(MIN_TRAIN_DAYS, (train_end - first).days + 1)]


def _categorical(columns: list[str]) -> list[str]:
    return [c for c in columns if c in ("apartment_code", "room_code")]


def _regressor(columns: list[str]):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(categorical_features=_categorical(columns), **ENERGY_PARAMS)


def _classifier(columns: list[str]):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(categorical_features=_categorical(columns), **PRESENCE_PARAMS)


def training_rows(frame: pd.DataFrame, train_end: date) -> pd.DataFrame:
    """Rows whose target hour had passed by the end of ``train_end`` and whose actual value is known."""
    end_hour = hour_of_day_start(train_end) + 24
    return frame[(frame["target_hour"] < end_hour) & frame["y"].notna()]


def fit(energy: pd.DataFrame, presence: pd.DataFrame, history: History, train_end: date) -> Bundle:
    """Fit the bundle on the feature frames' rows known by the end of ``train_end``."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=THREADS):
        return _fit(energy, presence, history, train_end)


def _fit(energy: pd.DataFrame, presence: pd.DataFrame, history: History, train_end: date) -> Bundle:
    energy_rows = training_rows(energy, train_end)
    presence_rows = training_rows(presence, train_end)
    if energy_rows.empty or presence_rows.empty or presence_rows["y"].nunique() < 2:
        raise NotEnoughHistory(f"not enough history to train on up to {train_end}: {len(energy_rows)} energy rows, "
                               f"{len(presence_rows)} presence rows")
    weather_rows = energy_rows.dropna(subset=F.ENERGY_WEATHER)
    energy_model, no_weather = _energy_pair(energy_rows, weather_rows, F.ENERGY_BASE)
    presence_model = _classifier(F.PRESENCE).fit(presence_rows[F.PRESENCE], presence_rows["y"].astype(int))
    return Bundle(energy_model, no_weather, presence_model, list(history.apartments), list(history.rooms),
                  train_start=min(energy_rows["issue_day"]), train_end=train_end,
                  rows={"energy": len(energy_rows), "energy_weather": len(weather_rows),
                        "presence": len(presence_rows)},
                  energy_own=_own_energy_models(energy_rows))


def _energy_pair(rows: pd.DataFrame, weather_rows: pd.DataFrame, base: list[str]) -> tuple[object, object]:
    """(with weather, without): the weather model on the rows with a usable forecast (on every row when none
    has one), the fallback on every row, both on ``base`` (the weather model also on the forecast's columns)."""
    with_weather = base + F.ENERGY_WEATHER
    weather_fit = weather_rows if len(weather_rows) else rows
    return (_regressor(with_weather).fit(weather_fit[with_weather], weather_fit["y"]),
            _regressor(base).fit(rows[base], rows["y"]))


def _own_energy_models(energy_rows: pd.DataFrame) -> dict[str, tuple[object, object]]:
    """(with weather, without) energy models of each apartment with ``MIN_OWN_MODEL_DAYS`` issue days of rows."""
    base = [c for c in F.ENERGY_BASE if c != "apartment_code"]  # one apartment: its code says nothing
    own = {}
    for apartment, rows in energy_rows.groupby("apartment", sort=True):
        weather_rows = rows.dropna(subset=F.ENERGY_WEATHER)
        if min(rows["issue_day"].nunique(), weather_rows["issue_day"].nunique()) >= MIN_OWN_MODEL_DAYS:
            own[str(apartment)] = _energy_pair(rows, weather_rows, base)
    return own


def recode(frame: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    """Categorical codes as the bundle learnt them (a room or apartment it never saw: missing)."""
    out = frame.copy()
    apartments = {a: float(i) for i, a in enumerate(bundle.apartments)}
    out["apartment_code"] = out["apartment"].map(apartments).astype(float)
    if "room_key" in out:
        rooms = {(a, k): float(i) for i, (a, k, _) in enumerate(bundle.rooms)}
        out["room_code"] = [rooms.get((a, int(k)), np.nan) for a, k in zip(out["apartment"], out["room_key"],
                                                                          strict=True)]
    return out


def weather_complete(frame: pd.DataFrame) -> pd.Series:
    return frame[F.ENERGY_WEATHER].notna().all(axis=1)


def predict_energy(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """kWh per row (>= 0), with the weather model where the forecast is complete, the fallback elsewhere (the
    apartment's own pair where it has one, the pooled pair otherwise).

    Adds ``prediction``, ``weather_used`` and the two baselines filled where a week of history is missing.
    """
    out = recode(frame, bundle)
    use_weather = weather_complete(out).to_numpy()
    prediction = np.full(len(out), np.nan)
    for apartment in out["apartment"].unique():
        mine = (out["apartment"] == apartment).to_numpy()
        for model, rows in zip(bundle.energy_models(apartment), (mine & use_weather, mine & ~use_weather),
                               strict=True):
            if rows.any():
                prediction[rows] = model.predict(out.loc[rows, columns_of(model)])
    profile = out["median_14d"].fillna(out["mean_7d"]).to_numpy(float)
    blended = np.where(np.isnan(profile), prediction, ENERGY_BLEND * prediction + (1 - ENERGY_BLEND) * profile)
    out["prediction"] = np.clip(blended, 0.0, None)
    out["weather_used"] = use_weather
    for name in F.ENERGY_BASELINES:
        out[name] = out[name].fillna(out["mean_7d"]).fillna(out["median_14d"])
    return out


def predict_presence(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Probability per row in [0, 1]; adds ``prediction`` and the hour-of-week baseline filled where missing."""
    out = recode(frame, bundle)
    model = bundle.presence.predict_proba(out[columns_of(bundle.presence)])[:, 1]
    out["hour_of_week_baseline"] = (out["hour_of_week"].fillna(out["hour_freq_14d"]).fillna(out["room_last_24h"])
                                    .fillna(0.5))
    blended = PRESENCE_BLEND * model + (1 - PRESENCE_BLEND) * out["hour_of_week_baseline"].to_numpy(float)
    out["prediction"] = np.clip(blended, 0.0, 1.0)
    return out
