-- Step 2: insert the staged rows of the issue date. Site, measurement and unit labels are passed as text
-- arrays indexed by the staged codes (0-based in Python, hence + 1).
INSERT INTO silver.weather_forecasts
    (prediction_date, timestamp, site, measurement, prediction, value, unit, is_outlier)
SELECT %(prediction_date)s,
       s.timestamp,
       (%(sites)s::text[])[s.site_id + 1],
       (%(measurements)s::text[])[s.measurement_id + 1],
       s.prediction,
       s.value,
       (%(units)s::text[])[s.unit_id + 1],
       s.is_outlier
FROM weather_stage AS s
