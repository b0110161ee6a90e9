-- silver.sensor_events: the BI-facing long table of the original (apartment, room, sensor_type, field,
-- value, unit, timestamp, is_outlier), as a view over the lean physical design.
CREATE OR REPLACE VIEW silver.sensor_events AS
SELECT s.apartment,
       s.room,
       s.sensor_type,
       s.field,
       r.value,
       s.unit,
       r.ts AS "timestamp",
       r.is_outlier,
       s.sensor_index,
       r.series_id,
       r.file_id
FROM silver.sensor_readings r
JOIN silver.sensor_series s USING (series_id);
