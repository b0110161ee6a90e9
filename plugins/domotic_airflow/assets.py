"""The assets that connect the DAGs: each Silver table family announces its updates; Gold listens.

Producers put the time window they changed into the asset event's ``extra`` as ISO-8601 UTC strings:
``{"window_start": ..., "window_end": ...}`` (half-open ``[start, end)``), so ``gold_build`` rebuilds exactly
that window.
"""

from __future__ import annotations

from airflow.sdk import Asset

SILVER_SENSOR_READINGS = Asset(
    name="silver_sensor_readings", uri="postgres://warehouse:5432/domotic/silver/sensor_readings"
)
SILVER_WEATHER = Asset(name="silver_weather", uri="postgres://warehouse:5432/domotic/silver/weather_forecasts")
SILVER_REFERENCE = Asset(name="silver_reference", uri="postgres://warehouse:5432/domotic/silver/dim_buildings")
GOLD_STAR_SCHEMA = Asset(name="gold_star_schema", uri="postgres://warehouse:5432/domotic/gold/fact_energy_minute")
