-- Step 1 of loading one issue date: remove the rows of its previous version (none on a first load).
DELETE FROM silver.weather_forecasts WHERE prediction_date = %(prediction_date)s
