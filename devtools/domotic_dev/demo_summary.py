"""The Gold summary ``make demo`` prints (one row per apartment and UTC day), read from Gold as BI would."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from domotic_dev.services import Service

# Energy and cost come from the whole-house meter only (plugs are inside it: adding both would double count).
# Presence hours: minutes with presence in any room, per apartment. Indoor climate excludes the Outdoor
# station. Forecast: the latest forecast for the apartment's weather site, averaged over the day's hours.
SUMMARY_SQL = """
WITH days AS (
    SELECT DISTINCT apartment_id, date_key FROM gold.fact_device_health_day
), energy AS (
    SELECT apartment_id, date_key, sum(energy_kwh) AS kwh, sum(cost_chf) AS chf
    FROM gold.fact_energy_minute WHERE meter_role = 'house_meter' GROUP BY 1, 2
), presence AS (
    SELECT apartment_id, date_key, count(DISTINCT datetime_key) FILTER (WHERE presence_flag) / 60.0 AS hours
    FROM gold.fact_presence_minute GROUP BY 1, 2
), climate AS (
    SELECT apartment_id, date_key, avg(temperature_c) AS indoor_c, avg(co2_ppm) AS co2_ppm
    FROM gold.fact_environment_minute WHERE NOT is_outdoor GROUP BY 1, 2
), health AS (
    SELECT apartment_id, date_key, avg(uptime_pct) AS uptime_pct FROM gold.fact_device_health_day GROUP BY 1, 2
), forecast AS (
    SELECT a.apartment_id, w.date_key, avg(w.temperature_c) AS forecast_c
    FROM gold.fact_weather_hour w JOIN gold.dim_apartment a ON a.weather_site_key = w.site_key
    GROUP BY 1, 2
)
SELECT d.date AS day, days.apartment_id AS apartment, e.kwh, e.chf, p.hours AS presence_hours, c.indoor_c,
       c.co2_ppm, h.uptime_pct, f.forecast_c
FROM days
JOIN gold.dim_date d ON d.date_key = days.date_key
LEFT JOIN energy e ON (e.apartment_id, e.date_key) = (days.apartment_id, days.date_key)
LEFT JOIN presence p ON (p.apartment_id, p.date_key) = (days.apartment_id, days.date_key)
LEFT JOIN climate c ON (c.apartment_id, c.date_key) = (days.apartment_id, days.date_key)
LEFT JOIN health h ON (h.apartment_id, h.date_key) = (days.apartment_id, days.date_key)
LEFT JOIN forecast f ON (f.apartment_id, f.date_key) = (days.apartment_id, days.date_key)
WHERE %(since)s::date IS NULL OR d.date >= %(since)s::date
ORDER BY day, apartment
"""


def gold_summary(pg: Service, dbname: str, since: date | None = None) -> list[dict[str, Any]] | None:
    """Per apartment and UTC day (from ``since``, when given); None when Gold does not exist yet."""
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=dbname, row_factory=dict_row) as conn:
        if conn.execute("SELECT to_regclass('gold.fact_energy_minute') AS t").fetchone()["t"] is None:
            return None
        return conn.execute(SUMMARY_SQL, {"since": since}).fetchall()
