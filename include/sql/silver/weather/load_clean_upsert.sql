-- Step 3: merge the staged wide rows into silver.weather_clean. A row is replaced only by an issue at least
-- as recent as the one it holds, so loading an older file later (backfill) cannot overwrite a newer forecast;
-- unchanged rows are not rewritten. Keys are taken in (timestamp, site) order so two files loading at the same
-- time lock shared keys in the same order (one waits, neither deadlocks).
INSERT INTO silver.weather_clean AS c
    (timestamp, site, temperature_c, humidity_pct, precipitation_mm, radiation_wm2, is_outlier, prediction_date,
     updated_at)
SELECT timestamp, site, temperature_c, humidity_pct, precipitation_mm, radiation_wm2, is_outlier, prediction_date,
       now()
FROM weather_clean_stage
ORDER BY timestamp, site
ON CONFLICT (timestamp, site) DO UPDATE
SET temperature_c    = EXCLUDED.temperature_c,
    humidity_pct     = EXCLUDED.humidity_pct,
    precipitation_mm = EXCLUDED.precipitation_mm,
    radiation_wm2    = EXCLUDED.radiation_wm2,
    is_outlier       = EXCLUDED.is_outlier,
    prediction_date  = EXCLUDED.prediction_date,
    updated_at       = EXCLUDED.updated_at
WHERE c.prediction_date <= EXCLUDED.prediction_date
  AND (c.temperature_c, c.humidity_pct, c.precipitation_mm, c.radiation_wm2, c.is_outlier, c.prediction_date)
      IS DISTINCT FROM (EXCLUDED.temperature_c, EXCLUDED.humidity_pct, EXCLUDED.precipitation_mm,
                        EXCLUDED.radiation_wm2, EXCLUDED.is_outlier, EXCLUDED.prediction_date)
