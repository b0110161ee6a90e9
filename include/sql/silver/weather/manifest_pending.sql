-- Downloaded, not yet processed current file versions issued up to the run's day, oldest issue first.
SELECT source_name, checksum, bronze_path, prediction_date
FROM silver.weather_file_manifest
WHERE is_current AND status = 'downloaded' AND prediction_date <= %(day)s
ORDER BY prediction_date, source_name
