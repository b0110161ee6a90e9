"""Forecast features, models and metrics on generated history (no database): no look-ahead, deterministic
training, metrics recomputed independently, the generator's weather agreeing with its forecast files."""

from __future__ import annotations

import pickle
from datetime import date, timedelta

import numpy as np
import pytest
from domotic_dev.ml_history import forecast_of, history_from_generator

from domotic.ml import evaluation, features, models
from domotic.ml.history import hour_of_day_start

START = date(2023, 9, 1)
DAYS = 20
ISSUE = START + timedelta(days=15)


@pytest.fixture(scope="module")
def history():
    return history_from_generator(11, START, DAYS)


def test_changing_data_after_the_issue_time_changes_no_feature(history):
    before_e = features.energy_features(history, [ISSUE])
    before_p = features.presence_features(history, [ISSUE])
    changed = history.truncated(hour_of_day_start(ISSUE + timedelta(days=1)))
    rng = np.random.default_rng(0)
    cut = hour_of_day_start(ISSUE + timedelta(days=1)) - history.first_hour
    changed.energy[:, cut:] = rng.uniform(0, 9, changed.energy[:, cut:].shape)  # the future, rewritten
    changed.presence[:, cut:] = rng.integers(0, 2, changed.presence[:, cut:].shape)
    changed.weather[ISSUE + timedelta(days=1)] = history.weather[ISSUE] + 50  # a later issue: never read
    after_e = features.energy_features(changed, [ISSUE])
    after_p = features.presence_features(changed, [ISSUE])
    columns_e = features.ENERGY_BASE + features.ENERGY_WEATHER + list(features.ENERGY_BASELINES)
    np.testing.assert_array_equal(before_e[columns_e].to_numpy(float), after_e[columns_e].to_numpy(float))
    np.testing.assert_array_equal(before_p[features.PRESENCE].to_numpy(float),
                                  after_p[features.PRESENCE].to_numpy(float))
    # ... while the targets did change (the test would prove nothing otherwise)
    assert not np.allclose(before_e["y"], after_e["y"], equal_nan=True)


def test_features_use_the_forecast_issued_on_the_issue_day(history):
    frame = features.energy_features(history, [ISSUE])
    issued = history.weather[ISSUE]
    first = frame.iloc[0]  # horizon 1: 00:00 of the next day = 24 h after the issue date's 00:00
    assert first["horizon"] == 1
    assert first["forecast_temperature"] == pytest.approx(issued[0, 24])
    assert first["lag_week"] == pytest.approx(history.energy[history.apartments.index(first["apartment"]),
                                                             int(first["target_hour"]) - 168 - history.first_hour])


def test_training_is_deterministic(history, monkeypatch):
    monkeypatch.setattr(models, "MIN_OWN_MODEL_DAYS", 6)  # the apartments' own energy models too (8 days here)
    frames = evaluation.feature_frames(history, ISSUE)
    a = models.fit(*frames, history, ISSUE)
    b = models.fit(*frames, history, ISSUE)
    energy, presence = frames
    assert set(a.own_energy()) == set(history.apartments)
    for name in ("energy", "energy_no_weather"):
        columns = a.features[name]
        np.testing.assert_array_equal(getattr(a, name).predict(energy[columns]),
                                      getattr(b, name).predict(energy[columns]))
    np.testing.assert_array_equal(models.predict_energy(a, energy)["prediction"],
                                  models.predict_energy(b, energy)["prediction"])
    np.testing.assert_array_equal(a.presence.predict_proba(presence[features.PRESENCE]),
                                  b.presence.predict_proba(presence[features.PRESENCE]))
    assert pickle.loads(pickle.dumps(a)).train_end == ISSUE


def test_backtest_metrics_recomputed_independently(history):
    result = evaluation.backtest(history, START + timedelta(days=DAYS - 1), 3, 7)
    energy = result.energy
    for apartment in history.apartments:
        rows = energy[energy["apartment"] == apartment]
        # straight from the hourly arrays, not from the frame's features
        series = history.energy[history.apartments.index(apartment)]
        index = rows["target_hour"].to_numpy(int) - history.first_hour
        actual = series[index]
        week = series[index - 168]
        profile = np.nanmean(np.stack([series[index - 168 * k] if (index - 168 * k >= 0).all()
                                       else np.where(index - 168 * k >= 0, series[np.maximum(index - 168 * k, 0)],
                                                     np.nan) for k in range(1, 5)]), axis=0)
        expected = {"same_hour_last_week": np.mean(np.abs(actual - week)),
                    "mean_profile_4w": np.mean(np.abs(actual - profile)),
                    "model": np.mean(np.abs(actual - rows["prediction"].to_numpy()))}
        for predictor, value in expected.items():
            assert evaluation.metric(result.metrics, apartment, "energy_kwh", "mae", predictor) == pytest.approx(value)
        presence = result.presence[result.presence["apartment"] == apartment]
        brier = np.mean((presence["prediction"].to_numpy() - presence["y"].to_numpy()) ** 2)
        assert evaluation.metric(result.metrics, apartment, "presence", "brier", "model") == pytest.approx(brier)
    assert result.first_day == START + timedelta(days=DAYS - 3)
    assert sum(row["n"] for row in result.reliability) == len(result.presence)


def test_predictions_are_in_range_and_fallback_is_recorded(history):
    from domotic.ml import forecast

    frames = evaluation.feature_frames(history, ISSUE)
    bundle = models.fit(*frames, history, ISSUE)
    issued = forecast.issue(bundle, "v", history.truncated(hour_of_day_start(ISSUE + timedelta(days=1))), ISSUE)
    assert issued.fallback_reason is None and issued.energy["weather_used"].all()
    assert len(issued.energy) == 48 * len(history.apartments)
    assert (issued.energy["prediction"] >= 0).all()
    assert issued.presence["prediction"].between(0, 1).all() and len(issued.presence) == 24 * len(history.rooms)
    without = history.truncated(hour_of_day_start(ISSUE + timedelta(days=1)))
    del without.weather[ISSUE]
    fallback = forecast.issue(bundle, "v", without, ISSUE)
    assert fallback.fallback_reason == f"no usable weather forecast issued on {ISSUE.isoformat()}"
    assert len(fallback.energy) == 24 * len(history.apartments) and not fallback.energy["weather_used"].any()
    rows = forecast.rows(fallback, {a: i for i, a in enumerate(history.apartments)}, "run")
    assert all(r["fallback_reason"] == fallback.fallback_reason for r in rows if r["target"] == "energy_kwh")


def test_the_forecast_describes_the_weather_the_sensors_saw():
    """Sion's forecast is the simulator's weather plus an error that grows with the lead time."""
    from domotic.generator import outdoor

    issue = date(2023, 10, 10)
    forecast = forecast_of(issue, 7)  # hourly from the issue date's 00:00 UTC, interpolated from 3-hourly steps
    truth = outdoor.hourly(7, hour_of_day_start(issue), 72)
    error = forecast[0] - truth.temperature
    first, later = np.nanmean(np.abs(error[1:24])), np.nanmean(np.abs(error[48:72]))
    assert first < 1.5 and later < 3.0
    assert np.corrcoef(forecast[0][1:70], truth.temperature[1:70])[0, 1] > 0.8


def test_an_apartment_with_its_own_weather_site_gets_its_forecasts(history):
    """The registry's weather site per apartment reaches the features (History.site_weather); the others keep
    the default site's forecast."""
    own = history.apartments[-1]
    other = {day: values + 7.0 for day, values in history.weather.items()}
    history.site_weather[own] = other
    try:
        frame = features.energy_features(history, [ISSUE])
        truncated = history.truncated(hour_of_day_start(ISSUE + timedelta(days=1)))
    finally:
        del history.site_weather[own]
    first = frame.groupby("apartment").first()
    assert first.loc[own, "forecast_temperature"] == pytest.approx(history.weather[ISSUE][0, 24] + 7.0)
    for apartment in history.apartments[:-1]:
        assert first.loc[apartment, "forecast_temperature"] == pytest.approx(history.weather[ISSUE][0, 24])
    assert ISSUE in truncated.site_weather[own] and ISSUE + timedelta(days=1) not in truncated.site_weather[own]


def test_the_week_so_far_is_the_known_work_hours_of_the_targets_week(history):
    """week_daytime_home: the apartment's presence over 08:00-17:00 local on the target week's workdays known at
    the issue; nothing on a Monday (no workday of its week is known yet)."""
    occupancy = features.apartment_presence(history)
    tuesday, sunday = date(2023, 9, 19), date(2023, 9, 17)
    wednesday = features.presence_features(history, [tuesday])
    for k, apartment in enumerate(history.apartments):
        # Monday and Tuesday 08:00-17:00 in Zurich (UTC+2) are hours 06..14 UTC of those days
        hours = [(day - START).days * 24 + h for day in (sunday + timedelta(days=1), tuesday) for h in range(6, 15)]
        expected = np.nanmean(occupancy[k, hours])
        values = wednesday.loc[wednesday["apartment"] == apartment, "week_daytime_home"].to_numpy(float)
        np.testing.assert_allclose(values, expected)
    monday = features.presence_features(history, [sunday])
    assert monday["week_daytime_home"].isna().all()


def test_a_bundle_fitted_before_a_feature_was_added_keeps_serving(history, monkeypatch):
    """A promoted bundle predicts with the columns it was fitted on, whatever the code's feature list is now."""
    frames = evaluation.feature_frames(history, ISSUE)
    older = [c for c in features.PRESENCE if c != "week_daytime_home"]
    with monkeypatch.context() as m:
        m.setattr(features, "PRESENCE", older)
        bundle = models.fit(*frames, history, ISSUE)
    assert bundle.features["presence"] == older
    presence = frames[1][frames[1]["issue_day"] == ISSUE]
    served = models.predict_presence(bundle, presence)  # the frame has every current column
    expected = bundle.presence.predict_proba(models.recode(presence, bundle)[older])[:, 1]
    assert np.isfinite(served["prediction"]).all()
    np.testing.assert_allclose(served["prediction"],
                               np.clip(models.PRESENCE_BLEND * expected + (1 - models.PRESENCE_BLEND)
                                       * served["hour_of_week_baseline"], 0, 1))


def _issued_kwh(model, rows):
    raw = model.predict(rows[models.columns_of(model)])
    profile = rows["median_14d"].fillna(rows["mean_7d"]).to_numpy(float)
    return np.clip(models.ENERGY_BLEND * raw + (1 - models.ENERGY_BLEND) * profile, 0, None)


def test_apartments_with_enough_history_get_energy_models_of_their_own(history, monkeypatch):
    """Own energy models serve the apartments with MIN_OWN_MODEL_DAYS days of rows; a newer apartment is served by
    the pooled pair, and so is every apartment of a bundle pickled before own models existed."""
    monkeypatch.setattr(models, "MIN_OWN_MODEL_DAYS", 6)
    energy, presence = evaluation.feature_frames(history, ISSUE)
    newer, older = history.apartments
    days = sorted(set(models.training_rows(energy, ISSUE)["issue_day"]))
    assert len(days) == 8
    joined_late = energy[(energy["apartment"] != newer) | (energy["issue_day"] >= days[4])]  # 4 days of newer
    bundle = models.fit(joined_late, presence, history, ISSUE)
    assert set(bundle.own_energy()) == {older} and bundle.features["energy_own_apartments"] == [older]
    assert models.columns_of(bundle.own_energy()[older][0]) == [c for c in bundle.features["energy"]
                                                                if c != "apartment_code"]
    frame = models.recode(energy[energy["issue_day"] == ISSUE], bundle)
    served = models.predict_energy(bundle, frame)
    assert served["weather_used"].all() and len(served) == 48 * 2
    for apartment, model in ((older, bundle.own_energy()[older][0]), (newer, bundle.energy)):
        mine = (frame["apartment"] == apartment).to_numpy()
        np.testing.assert_allclose(served.loc[mine, "prediction"], _issued_kwh(model, frame[mine]))
    assert not np.allclose(_issued_kwh(bundle.energy, frame), served["prediction"])  # own != pooled

    unpickled = pickle.loads(pickle.dumps(bundle))
    del unpickled.__dict__["energy_own"]  # as a bundle promoted before this release
    assert unpickled.own_energy() == {}
    np.testing.assert_allclose(models.predict_energy(unpickled, frame)["prediction"],
                               _issued_kwh(unpickled.energy, frame))


def test_retraining_is_due_first_on_schedule_and_on_degradation(tmp_path):
    """No bundle: train. A bundle: retrain when ``retrain_every_days`` old (weekly with 7), or at once when an
    apartment's live MAE over a day of hours or more exceeds the ratio x its backtest MAE."""
    from domotic.ml import lifecycle, registry

    trained = date(2023, 10, 1)
    serving = registry.Registered("m1", trained, "a", "s", {"metrics": [
        {"apartment_id": a, "target": "energy_kwh", "metric": "mae", "predictor": "model", "value": 0.2}
        for a in ("jimmy", "jeremie")]}, "first")
    weekly = lifecycle.Policy(model_dir=tmp_path, retrain_every_days=7, degradation_ratio=1.3)
    assert lifecycle.trigger_for(None, trained, weekly, {}) == "first"
    assert lifecycle.trigger_for(serving, trained + timedelta(days=6), weekly, {}) is None
    assert lifecycle.trigger_for(serving, trained + timedelta(days=7), weekly, {}) == "schedule"

    live = {"jimmy": {"mae": 0.27, "n": 24}, "jeremie": {"mae": 0.25, "n": 24}}  # 1.35x and 1.25x
    worse = lifecycle.degraded(serving, live, weekly.degradation_ratio)
    assert worse == {"jimmy": {"live_mae": 0.27, "backtest_mae": 0.2, "ratio": 1.35}}
    assert lifecycle.trigger_for(serving, trained + timedelta(days=2), weekly, worse) == "degradation"
    assert lifecycle.degraded(serving, {"jimmy": {"mae": 0.9, "n": 23}}, 1.3) == {}  # less than a day: no verdict
