-- Step 4 (re-deliveries only): wide rows that came from the replaced version of this issue date but whose
-- key the new version no longer has. They are removed and recomputed from the remaining revisions.
DELETE FROM silver.weather_clean AS c
WHERE c.prediction_date = %(prediction_date)s
  AND NOT EXISTS (SELECT 1 FROM weather_clean_stage AS s WHERE s.timestamp = c.timestamp AND s.site = c.site)
RETURNING c.timestamp, c.site
