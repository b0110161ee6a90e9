"""The assets that connect the DAGs: each Silver table family announces its updates; Gold listens.

Producers put the time window they changed into the asset event's ``extra`` as ISO-8601 UTC strings:
``{"window_start": ..., "window_end": ...}`` (half-open ``[start, end)``), shown in the UI. The events wake
``gold_build`` up; what Gold rebuilds comes from its work ledger (docs/gold.md §1.1). Each asset's ``extra``
carries a description the UI shows on the asset's page.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

_WAREHOUSE = "postgres://warehouse:5432/domotic"

SILVER_SENSOR_READINGS = Asset(
    name="silver_sensor_readings", uri=f"{_WAREHOUSE}/silver/sensor_readings", group="silver",
    extra={"description": "Sensor readings and the file manifest, updated by sensors_minutely and sensors_daily;"
                          " events carry the loaded window"},
)
# Through an alias a task emits an event only when it adds one: sensors_daily's reconcile_day loads a small day
# itself (an event with the loaded window) but only lists a big one for ingest_chunk (no event: nothing loaded).
SILVER_SENSOR_LOADS = AssetAlias(name="silver_sensor_loads", group="silver")
SILVER_WEATHER = Asset(
    name="silver_weather", uri=f"{_WAREHOUSE}/silver/weather_forecasts", group="silver",
    extra={"description": "Forecast revisions and the latest forecast per hour, updated by weather_daily; events"
                          " carry the forecast hours changed"},
)
SILVER_REFERENCE = Asset(
    name="silver_reference", uri=f"{_WAREHOUSE}/silver/dim_buildings", group="silver",
    extra={"description": "The pidb reference tables (buildings, rooms, sensors, devices, errors), swapped in"
                          " whole by mysql_snapshot_weekly"},
)
GOLD_STAR_SCHEMA = Asset(
    name="gold_star_schema", uri=f"{_WAREHOUSE}/gold/fact_energy_minute", group="gold",
    extra={"description": "The Gold star schema (facts and dimensions for BI and ML), published by gold_build"
                          " after its quality gates; events carry the rebuilt windows"},
)
ML_PREDICTIONS = Asset(
    name="ml_predictions", uri=f"{_WAREHOUSE}/gold/fact_ml_predictions", group="gold",
    extra={"description": "Hourly energy and presence forecasts written by ml_forecast_daily; events carry the"
                          " forecast window (gold_build folds them into presence_prob)"},
)
