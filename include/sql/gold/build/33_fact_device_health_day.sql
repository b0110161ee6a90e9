-- gold.fact_device_health_day: rebuilds the health facts of the UTC days the sensor windows touch (whole
-- days, gold_day.health_day), and, when the reference snapshot changed (a claimed 'reference' ledger change, or
-- refresh_reference of a time-based or manual run), the error counts of every other day.
-- Grain: (date_key, device_key): every device of dim_device whose apartment delivered data that day
-- (covered_minutes > 0), from the day of the device's first reading on.
-- Source: silver.file_manifest, silver.sensor_readings (via gold_series), silver.di_errors_clean.
--   covered_minutes   minutes of the day the apartment delivered a loaded, current file for (distinct reading
--                     minutes of silver.file_manifest): what the pipeline covered so far; a partial day counts
--                     only its covered minutes, a minute without a file is the gateway's gap, not the device's.
--   reading_minutes   minutes of the day with a reading of the device's primary measure (gold_series.is_primary:
--                     plug power, contact open, motion, meteo temperature_c, humidity, house total_power).
--   missing_readings  covered_minutes - reading_minutes (never below 0).
--   uptime_pct        100 * reading_minutes / covered_minutes (at most 100).
--   outlier_count     readings of the device flagged is_outlier that day.
--   battery_min_pct / battery_avg_pct  min / mean of the day's non-outlier battery readings; NULL if none.
--   error_count       errors of silver.di_errors_clean that day naming the device's reference sensor
--                     (dim_device.reference_sensor_id); building_error_count: all errors of the device's
--                     building (apartment) that day, the same on each of its devices (do not sum it).
-- Also advances dim_device.first_reading_ts to the earliest reading seen in the rebuilt days.
WITH reference_changed AS (
    SELECT %(refresh_reference)s OR EXISTS (SELECT 1 FROM gold_claimed WHERE scope = 'reference') AS yes
),
days AS (
    SELECT day, date_key, day_start, day_end FROM gold_day WHERE health_day
),
coverage AS (
    SELECT d.date_key, f.apartment, count(DISTINCT f.reading_ts)::integer AS covered_minutes
    FROM days d
    JOIN silver.file_manifest f
      ON f.file_ts >= d.day_start - interval '24 hours' AND f.file_ts < d.day_end + interval '24 hours'
     AND f.reading_ts >= d.day_start AND f.reading_ts < d.day_end
    WHERE f.status = 'loaded' AND f.is_current AND f.apartment IS NOT NULL
    GROUP BY d.date_key, f.apartment
),
series_day AS (   -- per series and day: one pass over the day's readings, grouped by series only
    SELECT d.date_key, r.series_id,
           count(*)                                    AS readings,
           count(*) FILTER (WHERE r.is_outlier)         AS outliers,
           min(r.value) FILTER (WHERE NOT r.is_outlier) AS valid_min,
           sum(r.value) FILTER (WHERE NOT r.is_outlier) AS valid_sum,
           count(*) FILTER (WHERE NOT r.is_outlier)     AS valid_n,
           min(r.ts)                                    AS first_ts
    FROM days d
    JOIN silver.sensor_readings r ON r.ts >= d.day_start AND r.ts < d.day_end
    GROUP BY d.date_key, r.series_id
),
device_day AS (
    SELECT x.date_key, g.device_key,
           coalesce(sum(x.readings) FILTER (WHERE g.is_primary), 0)::integer  AS reading_minutes,
           sum(x.outliers)::integer                                           AS outlier_count,
           min(x.valid_min) FILTER (WHERE g.field = 'battery')                AS battery_min_pct,
           sum(x.valid_sum) FILTER (WHERE g.field = 'battery')
               / nullif(sum(x.valid_n) FILTER (WHERE g.field = 'battery'), 0) AS battery_avg_pct,
           min(x.first_ts)                                                    AS first_ts
    FROM series_day x
    JOIN gold_series g ON g.series_id = x.series_id
    GROUP BY x.date_key, g.device_key
),
first_seen AS (
    SELECT device_key, min(first_ts) AS first_ts FROM device_day GROUP BY device_key
),
first_advanced AS (
    UPDATE gold.dim_device dv
    SET first_reading_ts = fs.first_ts
    FROM first_seen fs
    WHERE dv.device_key = fs.device_key
      AND (dv.first_reading_ts IS NULL OR fs.first_ts < dv.first_reading_ts)
),
device AS (
    SELECT dv.device_key, dv.room_key, dv.apartment_key, dv.apartment_id, dv.reference_sensor_id,
           least(dv.first_reading_ts, fs.first_ts) AS first_reading_ts
    FROM gold.dim_device dv
    LEFT JOIN first_seen fs ON fs.device_key = dv.device_key
),
error AS (
    SELECT d.date_key, e.sensor_id, e.apartment
    FROM days d
    JOIN silver.di_errors_clean e ON e."timestamp" >= d.day_start AND e."timestamp" < d.day_end
),
sensor_error AS (
    SELECT date_key, sensor_id, count(*)::integer AS n FROM error WHERE sensor_id IS NOT NULL GROUP BY 1, 2
),
building_error AS (
    SELECT date_key, apartment, count(*)::integer AS n FROM error WHERE apartment IS NOT NULL GROUP BY 1, 2
),
src AS MATERIALIZED (
    SELECT d.date_key, dv.device_key, dv.room_key, dv.apartment_key, dv.apartment_id,
           c.covered_minutes,
           coalesce(x.reading_minutes, 0)                                   AS reading_minutes,
           greatest(c.covered_minutes - coalesce(x.reading_minutes, 0), 0)  AS missing_readings,
           least(100.0, 100.0 * coalesce(x.reading_minutes, 0) / c.covered_minutes)::double precision
                                                                            AS uptime_pct,
           coalesce(x.outlier_count, 0)                                     AS outlier_count,
           x.battery_min_pct,
           x.battery_avg_pct,
           coalesce(se.n, 0)                                                AS error_count,
           coalesce(be.n, 0)                                                AS building_error_count
    FROM days d
    JOIN coverage c ON c.date_key = d.date_key
    JOIN device dv ON dv.apartment_id = c.apartment AND dv.first_reading_ts < d.day_end
    LEFT JOIN device_day x ON x.date_key = d.date_key AND x.device_key = dv.device_key
    LEFT JOIN sensor_error se ON se.date_key = d.date_key AND se.sensor_id = dv.reference_sensor_id
    LEFT JOIN building_error be ON be.date_key = d.date_key AND be.apartment = dv.apartment_id
),
all_error AS (   -- only when the reference snapshot changed: error counts of every day, for the other days
    SELECT to_char(e."timestamp" AT TIME ZONE 'UTC', 'YYYYMMDD')::integer AS date_key, e.sensor_id, e.apartment
    FROM silver.di_errors_clean e
    WHERE (SELECT yes FROM reference_changed)
),
all_sensor_error AS (
    SELECT date_key, sensor_id, count(*)::integer AS n FROM all_error WHERE sensor_id IS NOT NULL GROUP BY 1,
           2
),
all_building_error AS (
    SELECT date_key, apartment, count(*)::integer AS n FROM all_error WHERE apartment IS NOT NULL GROUP BY 1,
           2
),
errors_refreshed AS (
    UPDATE gold.fact_device_health_day h
    SET error_count = x.error_count, building_error_count = x.building_error_count
    FROM (
        SELECT h2.date_key, h2.device_key,
               coalesce(se.n, 0) AS error_count,
               coalesce(be.n, 0) AS building_error_count
        FROM gold.fact_device_health_day h2
        JOIN gold.dim_device dv ON dv.device_key = h2.device_key
        LEFT JOIN all_sensor_error se ON se.date_key = h2.date_key AND se.sensor_id = dv.reference_sensor_id
        LEFT JOIN all_building_error be ON be.date_key = h2.date_key AND be.apartment = h2.apartment_id
        WHERE (SELECT yes FROM reference_changed)
          AND NOT EXISTS (SELECT 1 FROM days d WHERE d.date_key = h2.date_key)
    ) AS x
    WHERE h.date_key = x.date_key AND h.device_key = x.device_key
      AND (h.error_count, h.building_error_count) IS DISTINCT FROM (x.error_count, x.building_error_count)
),
updated AS (
    UPDATE gold.fact_device_health_day f
    SET room_key = s.room_key,
        apartment_key = s.apartment_key,
        apartment_id = s.apartment_id,
        covered_minutes = s.covered_minutes,
        reading_minutes = s.reading_minutes,
        missing_readings = s.missing_readings,
        uptime_pct = s.uptime_pct,
        outlier_count = s.outlier_count,
        battery_min_pct = s.battery_min_pct,
        battery_avg_pct = s.battery_avg_pct,
        error_count = s.error_count,
        building_error_count = s.building_error_count
    FROM src s
    WHERE f.date_key = s.date_key AND f.device_key = s.device_key
      AND (f.room_key, f.apartment_key, f.apartment_id, f.covered_minutes, f.reading_minutes,
           f.missing_readings, f.uptime_pct, f.outlier_count, f.battery_min_pct, f.battery_avg_pct,
           f.error_count, f.building_error_count)
          IS DISTINCT FROM
          (s.room_key, s.apartment_key, s.apartment_id, s.covered_minutes, s.reading_minutes,
           s.missing_readings, s.uptime_pct, s.outlier_count, s.battery_min_pct, s.battery_avg_pct,
           s.error_count, s.building_error_count)
),
inserted AS (
    INSERT INTO gold.fact_device_health_day
        (date_key, device_key, room_key, apartment_key, apartment_id, covered_minutes, reading_minutes,
         missing_readings, uptime_pct, outlier_count, battery_min_pct, battery_avg_pct, error_count,
         building_error_count)
    SELECT date_key, device_key, room_key, apartment_key, apartment_id, covered_minutes, reading_minutes,
           missing_readings, uptime_pct, outlier_count, battery_min_pct, battery_avg_pct, error_count,
           building_error_count
    FROM src s
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_device_health_day_pkey DO NOTHING
)
DELETE FROM gold.fact_device_health_day f
USING days d
WHERE f.date_key = d.date_key
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.date_key = s.date_key
                      AND f.device_key = s.device_key)
