-- Every kept-measurement revision of the given (timestamp, site) keys, for recomputing their wide rows.
SELECT f.timestamp, f.site, f.prediction_date, f.prediction, f.measurement, f.value, f.is_outlier
FROM silver.weather_forecasts AS f
JOIN unnest(%(timestamps)s::timestamptz[], %(sites)s::text[]) AS k(timestamp, site)
  ON f.timestamp = k.timestamp AND f.site = k.site
WHERE f.measurement = ANY(%(measurements)s::text[])
