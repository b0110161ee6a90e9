-- gold.fact_weather_hour: the latest forecast of each configured site and UTC hour the weather windows touch.
-- Grain: (datetime_key, site_key). Source: gold.fact_weather_hour_revision (rebuilt just before, same
-- transaction), its is_latest row: the most recent issue date covering the hour. Columns as the revision table
-- (definitions in fact_weather_hour_revision.sql); prediction_date says which issue is shown.
WITH hour AS (
    SELECT DISTINCT to_char(h.hour_start AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint AS datetime_key
    FROM gold_window w
    CROSS JOIN LATERAL generate_series(date_trunc('hour', w.ws, 'UTC'), w.we - interval '1 minute',
                                       interval '1 hour') AS h(hour_start)
    WHERE w.scope = 'weather'
),
site AS (
    SELECT site_key FROM gold.dim_weather_site WHERE is_configured
),
src AS MATERIALIZED (
    SELECT r.datetime_key, r.site_key, r.date_key, r.prediction_date, r.temperature_c, r.humidity_pct,
           r.precipitation_mm, r.radiation_wm2, r.n_model_runs, r.is_outlier
    FROM gold.fact_weather_hour_revision r
    JOIN hour h ON h.datetime_key = r.datetime_key
    JOIN site s ON s.site_key = r.site_key
    WHERE r.is_latest
),
updated AS (
    UPDATE gold.fact_weather_hour f
    SET date_key = s.date_key,
        prediction_date = s.prediction_date,
        temperature_c = s.temperature_c,
        humidity_pct = s.humidity_pct,
        precipitation_mm = s.precipitation_mm,
        radiation_wm2 = s.radiation_wm2,
        n_model_runs = s.n_model_runs,
        is_outlier = s.is_outlier
    FROM src s
    WHERE f.datetime_key = s.datetime_key AND f.site_key = s.site_key
      AND (f.date_key, f.prediction_date, f.temperature_c, f.humidity_pct, f.precipitation_mm,
           f.radiation_wm2, f.n_model_runs, f.is_outlier)
          IS DISTINCT FROM
          (s.date_key, s.prediction_date, s.temperature_c, s.humidity_pct, s.precipitation_mm,
           s.radiation_wm2, s.n_model_runs, s.is_outlier)
),
inserted AS (
    INSERT INTO gold.fact_weather_hour
        (datetime_key, site_key, date_key, prediction_date, temperature_c, humidity_pct, precipitation_mm,
         radiation_wm2, n_model_runs, is_outlier)
    SELECT datetime_key, site_key, date_key, prediction_date, temperature_c, humidity_pct, precipitation_mm,
           radiation_wm2, n_model_runs, is_outlier
    FROM src s
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_weather_hour_pkey DO NOTHING
)
DELETE FROM gold.fact_weather_hour f
USING hour h, site w
WHERE f.datetime_key = h.datetime_key
  AND f.site_key = w.site_key
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.datetime_key = s.datetime_key
                      AND f.site_key = s.site_key)
