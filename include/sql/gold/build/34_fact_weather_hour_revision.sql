-- gold.fact_weather_hour_revision: rebuilds every forecast revision of the hours the weather windows touch.
-- Grain: (datetime_key, site_key, prediction_date): one row per configured site, UTC forecast hour and issue
-- date. Source: silver.weather_forecasts, the 4 kept measurement codes (PRED_T_2M_ctrl -> temperature_c,
-- PRED_RELHUM_2M_ctrl -> humidity_pct, PRED_TOT_PREC_ctrl -> precipitation_mm, PRED_GLOB_ctrl -> radiation_wm2).
--   value         per forecast timestamp and measurement, the value of the lowest prediction code that has
--                 one (as silver.weather_clean; NULL if no code has a value), averaged over the forecast
--                 timestamps inside the hour (the source is 3-hourly: normally exactly one).
--   n_model_runs  distinct prediction codes of that issue for that site and hour.
--   lead_hours    hours from 00:00 UTC of the issue date to the forecast hour.
--   is_outlier    a chosen value is flagged is_outlier in Silver.
--   is_latest     the row's issue date is the most recent one covering that site and hour
--                 (the row gold.fact_weather_hour shows).
WITH hour AS (
    SELECT DISTINCT h.hour_start
    FROM gold_window w
    CROSS JOIN LATERAL generate_series(date_trunc('hour', w.ws, 'UTC'), w.we - interval '1 minute',
                                       interval '1 hour') AS h(hour_start)
    WHERE w.scope = 'weather'
),
site AS (
    SELECT site_key, site_name FROM gold.dim_weather_site WHERE is_configured
),
forecast AS (   -- one range scan of Silver over the windows' overall time span (BRIN on timestamp), each
                -- forecast bucketed to its UTC hour and matched to the rebuilt hours by equality. (A range join
                -- per hour cost hours x rows comparisons: 530 s on the 70-day history.)
    SELECT h.hour_start, s.site_key, f.timestamp, f.prediction_date, f.measurement, f.prediction, f.value,
           f.is_outlier
    FROM silver.weather_forecasts f
    JOIN hour h ON h.hour_start = date_trunc('hour', f.timestamp, 'UTC')
    JOIN site s ON s.site_name = f.site
    WHERE f.timestamp >= (SELECT min(hour_start) FROM hour)
      AND f.timestamp < (SELECT max(hour_start) + interval '1 hour' FROM hour)
      AND f.measurement IN ('PRED_T_2M_ctrl', 'PRED_RELHUM_2M_ctrl', 'PRED_TOT_PREC_ctrl', 'PRED_GLOB_ctrl')
),
chosen AS (
    SELECT DISTINCT ON (site_key, timestamp, prediction_date, measurement)
           hour_start, site_key, timestamp, prediction_date, measurement, value, is_outlier
    FROM forecast
    ORDER BY site_key, timestamp, prediction_date, measurement, value IS NULL, prediction
),
revision AS (
    SELECT c.hour_start, c.site_key, c.prediction_date,
           avg(c.value) FILTER (WHERE c.measurement = 'PRED_T_2M_ctrl')      AS temperature_c,
           avg(c.value) FILTER (WHERE c.measurement = 'PRED_RELHUM_2M_ctrl') AS humidity_pct,
           avg(c.value) FILTER (WHERE c.measurement = 'PRED_TOT_PREC_ctrl')  AS precipitation_mm,
           avg(c.value) FILTER (WHERE c.measurement = 'PRED_GLOB_ctrl')      AS radiation_wm2,
           coalesce(bool_or(c.is_outlier AND c.value IS NOT NULL), false)    AS is_outlier
    FROM chosen c
    GROUP BY c.hour_start, c.site_key, c.prediction_date
),
runs AS (
    SELECT hour_start, site_key, prediction_date, count(DISTINCT prediction)::integer AS n_model_runs
    FROM forecast
    GROUP BY hour_start, site_key, prediction_date
),
src AS MATERIALIZED (
    SELECT to_char(r.hour_start AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint AS datetime_key,
           r.site_key,
           r.prediction_date,
           to_char(r.hour_start AT TIME ZONE 'UTC', 'YYYYMMDD')::integer     AS date_key,
           (extract(epoch FROM r.hour_start - (r.prediction_date::timestamp AT TIME ZONE 'UTC')) / 3600)::integer
                                                                            AS lead_hours,
           r.temperature_c, r.humidity_pct, r.precipitation_mm, r.radiation_wm2,
           n.n_model_runs,
           r.is_outlier,
           r.prediction_date = max(r.prediction_date) OVER (PARTITION BY r.hour_start, r.site_key) AS is_latest
    FROM revision r
    JOIN runs n USING (hour_start, site_key, prediction_date)
),
updated AS (
    UPDATE gold.fact_weather_hour_revision f
    SET date_key = s.date_key,
        lead_hours = s.lead_hours,
        temperature_c = s.temperature_c,
        humidity_pct = s.humidity_pct,
        precipitation_mm = s.precipitation_mm,
        radiation_wm2 = s.radiation_wm2,
        n_model_runs = s.n_model_runs,
        is_outlier = s.is_outlier,
        is_latest = s.is_latest
    FROM src s
    WHERE f.datetime_key = s.datetime_key AND f.site_key = s.site_key AND f.prediction_date = s.prediction_date
      AND (f.date_key, f.lead_hours, f.temperature_c, f.humidity_pct, f.precipitation_mm, f.radiation_wm2,
           f.n_model_runs, f.is_outlier, f.is_latest)
          IS DISTINCT FROM
          (s.date_key, s.lead_hours, s.temperature_c, s.humidity_pct, s.precipitation_mm, s.radiation_wm2,
           s.n_model_runs, s.is_outlier, s.is_latest)
),
inserted AS (
    INSERT INTO gold.fact_weather_hour_revision
        (datetime_key, site_key, prediction_date, date_key, lead_hours, temperature_c, humidity_pct,
         precipitation_mm, radiation_wm2, n_model_runs, is_outlier, is_latest)
    SELECT datetime_key, site_key, prediction_date, date_key, lead_hours, temperature_c, humidity_pct,
           precipitation_mm, radiation_wm2, n_model_runs, is_outlier, is_latest
    FROM src s
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_weather_hour_revision_pkey DO NOTHING
)
DELETE FROM gold.fact_weather_hour_revision f
USING hour h, site w
WHERE f.datetime_key = to_char(h.hour_start AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint
  AND f.site_key = w.site_key
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.datetime_key = s.datetime_key
                      AND f.site_key = s.site_key
                      AND f.prediction_date = s.prediction_date)
