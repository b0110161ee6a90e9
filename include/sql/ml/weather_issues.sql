-- The site's weather forecasts as issued: every revision of gold.fact_weather_hour_revision for the given issue
-- dates (never the observed weather, never a later issue), up to 72 hours after the issue date's 00:00 UTC.
SELECT r.prediction_date,
       r.datetime_key / 100 AS hour_key,                  -- YYYYMMDDHH (UTC); the source is 3-hourly
       r.temperature_c,
       r.radiation_wm2,
       r.precipitation_mm,
       r.is_outlier
FROM gold.fact_weather_hour_revision r
JOIN gold.dim_weather_site s ON s.site_key = r.site_key
WHERE s.site_name = %(site)s
  AND r.prediction_date >= %(first_issue)s AND r.prediction_date <= %(last_issue)s
  AND r.lead_hours < 72
