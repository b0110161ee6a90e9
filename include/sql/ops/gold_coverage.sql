-- Gold's coverage guard: the UTC days holding current Silver rows that Gold has no rows for, with whether a
-- pending change of silver.gold_ledger covers them (then Gold is only behind; otherwise a change was lost).
-- Cheap at any history size: sensor days are found by a skip scan of the readings' primary key (one index
-- probe per day, a recursive CTE), weather issue days from the small file manifest; Gold is probed by key.
--   scope 'sensor':  days with readings in silver.sensor_readings, missing when no device-health, energy,
--                    environment or presence row of Gold has that day;
--   scope 'weather': issue dates of loaded, current forecast files with rows for a configured site and a kept
--                    measurement, missing when gold.fact_weather_hour_revision has no row of that issue date.
-- Day arithmetic on timestamps without time zone (UTC), never in the session time zone.
WITH RECURSIVE sensor_first AS (
    SELECT (SELECT min(ts) FROM silver.sensor_readings) AS ts
    UNION ALL
    SELECT (SELECT min(r.ts) FROM silver.sensor_readings r
            WHERE r.ts >= (date_trunc('day', s.ts AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC')
    FROM sensor_first s
    WHERE s.ts IS NOT NULL
),
sensor_day AS (
    SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS day FROM sensor_first WHERE ts IS NOT NULL
),
sensor_missing AS (
    SELECT 'sensor'::text AS scope, d.day
    FROM sensor_day d
    CROSS JOIN LATERAL (SELECT to_char(d.day, 'YYYYMMDD')::integer AS date_key,
                               to_char(d.day, 'YYYYMMDD')::bigint * 10000 AS key_start) k
    WHERE NOT EXISTS (SELECT 1 FROM gold.fact_device_health_day h WHERE h.date_key = k.date_key)
      AND NOT EXISTS (SELECT 1 FROM gold.fact_energy_minute f
                      WHERE f.datetime_key >= k.key_start AND f.datetime_key < k.key_start + 10000)
      AND NOT EXISTS (SELECT 1 FROM gold.fact_environment_minute f
                      WHERE f.datetime_key >= k.key_start AND f.datetime_key < k.key_start + 10000)
      AND NOT EXISTS (SELECT 1 FROM gold.fact_presence_minute f
                      WHERE f.datetime_key >= k.key_start AND f.datetime_key < k.key_start + 10000)
),
weather_issue AS (
    SELECT DISTINCT m.prediction_date AS day
    FROM silver.weather_file_manifest m
    WHERE m.status = 'loaded' AND m.is_current AND m.prediction_date IS NOT NULL
      AND EXISTS (SELECT 1 FROM silver.weather_forecasts f
                  WHERE f.prediction_date = m.prediction_date
                    AND f.site IN (SELECT site_name FROM gold.dim_weather_site WHERE is_configured)
                    AND f.measurement IN ('PRED_T_2M_ctrl', 'PRED_RELHUM_2M_ctrl', 'PRED_TOT_PREC_ctrl',
                                          'PRED_GLOB_ctrl'))
),
weather_missing AS (
    SELECT 'weather'::text AS scope, w.day
    FROM weather_issue w
    WHERE NOT EXISTS (SELECT 1 FROM gold.fact_weather_hour_revision r WHERE r.prediction_date = w.day)
),
missing AS (
    SELECT * FROM sensor_missing
    UNION ALL
    SELECT * FROM weather_missing
)
SELECT m.scope, m.day,
       EXISTS (SELECT 1 FROM silver.gold_ledger l
               WHERE l.scope = m.scope
                 AND l.window_start < (m.day + 1)::timestamp AT TIME ZONE 'UTC'
                 AND l.window_end > m.day::timestamp AT TIME ZONE 'UTC') AS pending
FROM missing m
ORDER BY m.day, m.scope
