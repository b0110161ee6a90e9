-- silver.sensor_readings: the physical store behind silver.sensor_events, one row per reading.
-- Narrow on purpose (~56 bytes a row) and keyed (ts, series_id): bulk COPY appends in time order, Gold's
-- time-window queries are index range scans, and the key is the dedup rule (one value per series and minute).
-- file_id points at the manifest row of the file version that wrote the reading (for re-deliveries).
CREATE TABLE IF NOT EXISTS silver.sensor_readings (
    ts         timestamptz      NOT NULL,
    value      double precision NOT NULL,
    series_id  integer          NOT NULL,
    file_id    integer          NOT NULL,
    is_outlier boolean          NOT NULL,
    CONSTRAINT sensor_readings_pkey PRIMARY KEY (ts, series_id)
);
