-- gold.fact_environment_minute: rebuilds the environment facts of the minutes in gold_minute.
-- Grain: (datetime_key, room_key), one row per room and UTC minute with at least one environment reading.
-- Source: silver.sensor_readings via gold_series (env_slot = measure and source precedence).
-- Each measure takes the reading of ONE source of the room (not a MAX across different sensors): valid
-- (non-outlier) readings before outliers, then by source precedence meteo station > humidity sensor > motion
-- sensor (plug temperatures are never used). *_source names the chosen source. (Two sensors of the same kind
-- in one room: the higher value; the inventories have none.)
--   temperature_c: meteo temperature_c > humidity temperature > motion temperature
--   humidity_pct:  meteo humidity_pct > humidity humidity
--   co2_ppm, noise_db, pressure_hpa: meteo station; light_lux: motion sensor
--   window_open_flag / door_open_flag: some window / door contact of the room reads open (1) in that minute;
--                  NULL when the room has no such reading in that minute.
--   is_anomaly:    a chosen value is an outlier (the room had no valid reading of that measure).
-- The Outdoor station gets its own rows with is_outdoor = true (never mixed into indoor rooms).
-- env_slot (from gold_series, build/20_series.sql) = 10 * measure + source precedence: 11/12/13 temperature of
-- the meteo station / humidity sensor / motion sensor, 21/22 humidity of the meteo station / humidity sensor,
-- 31 CO2, 41 noise, 51 pressure (meteo station), 61 light (motion sensor), 71 window open, 81 door open.
-- by_source pivots each slot into two columns: its valid value, and its value when flagged *_outlier.
WITH by_source AS (   -- per segment (at most an hour): one value per source slot and validity
    SELECT x.*
    FROM gold_segment m
    CROSS JOIN LATERAL (
        SELECT r.ts, g.room_key,
               max(r.value) FILTER (WHERE g.env_slot = 11 AND NOT r.is_outlier) AS temp_meteo,
               max(r.value) FILTER (WHERE g.env_slot = 12 AND NOT r.is_outlier) AS temp_humidity_sensor,
               max(r.value) FILTER (WHERE g.env_slot = 13 AND NOT r.is_outlier) AS temp_motion_sensor,
               max(r.value) FILTER (WHERE g.env_slot = 11 AND r.is_outlier)     AS temp_meteo_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 12 AND r.is_outlier)     AS temp_humidity_sensor_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 13 AND r.is_outlier)     AS temp_motion_sensor_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 21 AND NOT r.is_outlier) AS hum_meteo,
               max(r.value) FILTER (WHERE g.env_slot = 22 AND NOT r.is_outlier) AS hum_humidity_sensor,
               max(r.value) FILTER (WHERE g.env_slot = 21 AND r.is_outlier)     AS hum_meteo_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 22 AND r.is_outlier)     AS hum_humidity_sensor_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 31 AND NOT r.is_outlier) AS co2,
               max(r.value) FILTER (WHERE g.env_slot = 31 AND r.is_outlier)     AS co2_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 41 AND NOT r.is_outlier) AS noise,
               max(r.value) FILTER (WHERE g.env_slot = 41 AND r.is_outlier)     AS noise_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 51 AND NOT r.is_outlier) AS pressure,
               max(r.value) FILTER (WHERE g.env_slot = 51 AND r.is_outlier)     AS pressure_outlier,
               max(r.value) FILTER (WHERE g.env_slot = 61 AND NOT r.is_outlier) AS light,
               max(r.value) FILTER (WHERE g.env_slot = 61 AND r.is_outlier)     AS light_outlier,
               bool_or(r.value = 1) FILTER (WHERE g.env_slot = 71)              AS window_open_flag,
               bool_or(r.value = 1) FILTER (WHERE g.env_slot = 81)              AS door_open_flag
        FROM (   -- one primary-key range scan per segment (OFFSET 0 keeps the planner from scanning it
               -- again for every series)
            SELECT ts, value, series_id, is_outlier FROM silver.sensor_readings
            WHERE ts >= m.seg_start AND ts < m.seg_end
            OFFSET 0
        ) AS r
        JOIN gold_series g ON g.series_id = r.series_id
        WHERE g.env_slot IS NOT NULL
        GROUP BY r.ts, g.room_key
    ) AS x
),
src AS MATERIALIZED (
    SELECT m.datetime_key, x.room_key, m.date_key, r.apartment_key, r.apartment_id, r.is_outdoor,
           coalesce(x.temp_meteo, x.temp_humidity_sensor, x.temp_motion_sensor,
                    x.temp_meteo_outlier, x.temp_humidity_sensor_outlier, x.temp_motion_sensor_outlier)
               AS temperature_c,
           CASE WHEN x.temp_meteo IS NOT NULL THEN 'meteo'
                WHEN x.temp_humidity_sensor IS NOT NULL THEN 'humidity'
                WHEN x.temp_motion_sensor IS NOT NULL THEN 'motion'
                WHEN x.temp_meteo_outlier IS NOT NULL THEN 'meteo'
                WHEN x.temp_humidity_sensor_outlier IS NOT NULL THEN 'humidity'
                WHEN x.temp_motion_sensor_outlier IS NOT NULL THEN 'motion'
           END AS temperature_source,
           coalesce(x.hum_meteo, x.hum_humidity_sensor, x.hum_meteo_outlier, x.hum_humidity_sensor_outlier)
               AS humidity_pct,
           CASE WHEN x.hum_meteo IS NOT NULL THEN 'meteo'
                WHEN x.hum_humidity_sensor IS NOT NULL THEN 'humidity'
                WHEN x.hum_meteo_outlier IS NOT NULL THEN 'meteo'
                WHEN x.hum_humidity_sensor_outlier IS NOT NULL THEN 'humidity'
           END AS humidity_source,
           coalesce(x.co2, x.co2_outlier) AS co2_ppm,
           coalesce(x.noise, x.noise_outlier) AS noise_db,
           coalesce(x.pressure, x.pressure_outlier) AS pressure_hpa,
           coalesce(x.light, x.light_outlier) AS light_lux,
           x.window_open_flag,
           x.door_open_flag,
           -- an anomaly: some measure had only an outlier to offer
           (coalesce(x.temp_meteo, x.temp_humidity_sensor, x.temp_motion_sensor) IS NULL
            AND coalesce(x.temp_meteo_outlier, x.temp_humidity_sensor_outlier, x.temp_motion_sensor_outlier)
                IS NOT NULL)
           OR (coalesce(x.hum_meteo, x.hum_humidity_sensor) IS NULL
               AND coalesce(x.hum_meteo_outlier, x.hum_humidity_sensor_outlier) IS NOT NULL)
           OR (x.co2 IS NULL AND x.co2_outlier IS NOT NULL)
           OR (x.noise IS NULL AND x.noise_outlier IS NOT NULL)
           OR (x.pressure IS NULL AND x.pressure_outlier IS NOT NULL)
           OR (x.light IS NULL AND x.light_outlier IS NOT NULL) AS is_anomaly
    FROM by_source x
    JOIN gold_minute m ON m.ts = x.ts
    JOIN gold.dim_room r ON r.room_key = x.room_key
),
updated AS (
    UPDATE gold.fact_environment_minute f
    SET date_key = s.date_key,
        apartment_key = s.apartment_key,
        apartment_id = s.apartment_id,
        is_outdoor = s.is_outdoor,
        temperature_c = s.temperature_c,
        temperature_source = s.temperature_source,
        humidity_pct = s.humidity_pct,
        humidity_source = s.humidity_source,
        co2_ppm = s.co2_ppm,
        noise_db = s.noise_db,
        pressure_hpa = s.pressure_hpa,
        light_lux = s.light_lux,
        window_open_flag = s.window_open_flag,
        door_open_flag = s.door_open_flag,
        is_anomaly = s.is_anomaly
    FROM src s
    WHERE f.datetime_key = s.datetime_key AND f.room_key = s.room_key
      AND f.datetime_key >= (SELECT min(key_start) FROM gold_segment)
      AND f.datetime_key < (SELECT max(key_end) FROM gold_segment)
      AND (f.date_key, f.apartment_key, f.apartment_id, f.is_outdoor, f.temperature_c, f.temperature_source,
           f.humidity_pct, f.humidity_source, f.co2_ppm, f.noise_db, f.pressure_hpa, f.light_lux,
           f.window_open_flag, f.door_open_flag, f.is_anomaly)
          IS DISTINCT FROM
          (s.date_key, s.apartment_key, s.apartment_id, s.is_outdoor, s.temperature_c, s.temperature_source,
           s.humidity_pct, s.humidity_source, s.co2_ppm, s.noise_db, s.pressure_hpa, s.light_lux,
           s.window_open_flag, s.door_open_flag, s.is_anomaly)
),
inserted AS (
    INSERT INTO gold.fact_environment_minute
        (datetime_key, room_key, date_key, apartment_key, apartment_id, is_outdoor, temperature_c,
         temperature_source, humidity_pct, humidity_source, co2_ppm, noise_db, pressure_hpa, light_lux,
         window_open_flag, door_open_flag, is_anomaly)
    SELECT datetime_key, room_key, date_key, apartment_key, apartment_id, is_outdoor, temperature_c,
           temperature_source, humidity_pct, humidity_source, co2_ppm, noise_db, pressure_hpa, light_lux,
           window_open_flag, door_open_flag, is_anomaly
    FROM src s
    -- in apartment order: an owner's rows of a window share heap pages (a day of one apartment is ~100 pages,
    -- not one page per row among 1,000 apartments' rows), so a tenant's query cost does not grow with tenants
    ORDER BY apartment_key, datetime_key
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_environment_minute_pkey DO NOTHING
)
DELETE FROM gold.fact_environment_minute f
USING gold_segment g
WHERE f.datetime_key >= g.key_start AND f.datetime_key < g.key_end
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.datetime_key = s.datetime_key
                      AND f.room_key = s.room_key)
