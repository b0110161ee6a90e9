-- silver.sensor_series.first_day: the UTC day of the file that brought each series (issue 17).
--
-- The loader caps how many new series one apartment may bring per day of data (Variable
-- sensor_max_new_series_per_day): a hostile file with 200,000 rooms must not become 200,000 permanent series.
-- The day of the data, not of the load, so that a backfill of a month counts each day on its own and a re-run
-- counts the same. Series created before this migration keep NULL (they count for no day).
ALTER TABLE silver.sensor_series ADD COLUMN IF NOT EXISTS first_day date;
CREATE INDEX IF NOT EXISTS sensor_series_first_day ON silver.sensor_series (apartment, first_day);
