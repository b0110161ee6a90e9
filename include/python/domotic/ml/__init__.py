"""Forecasts the original promised and never shipped: energy and presence models (docs/ml.md).

Owns: reading Gold's hourly history for the models (``history``), the features known at issue time and the
naive baselines (``features``), the model bundle (``models``: scikit-learn HistGradientBoosting), the
rolling-origin backtest, metrics and promotion gate (``evaluation``), the registry and artifacts
(``registry``), when to retrain (``lifecycle``), issuing, writing and checking a day's forecasts into
``gold.fact_ml_predictions`` (``forecast``), and the task bodies of ``ml_forecast_daily`` (``tasks``).
"""
