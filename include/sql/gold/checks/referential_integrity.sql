-- Quality gate (SQLCheckOperator): every key of the rebuilt fact rows resolves in its dimension (the facts
-- carry no foreign-key constraints: the per-row triggers would triple the build time), and every calendar
-- day of the windows has its 1,440 minutes. One row of booleans.
WITH w AS (
    SELECT scope, key_start, key_end, date_key_start, date_key_end FROM gold.build_window
)
SELECT
    NOT EXISTS (
        SELECT 1 FROM gold.fact_energy_minute f
        JOIN w ON w.scope = 'sensor' AND f.datetime_key >= w.key_start AND f.datetime_key < w.key_end
        WHERE NOT EXISTS (SELECT 1 FROM gold.dim_datetime d WHERE d.datetime_key = f.datetime_key
                                                             AND d.date_key = f.date_key)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_device d WHERE d.device_key = f.device_key
                          AND d.room_key = f.room_key AND d.apartment_id = f.apartment_id)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_apartment a WHERE a.apartment_key = f.apartment_key
                          AND a.apartment_id = f.apartment_id)
    ) AS energy_keys_resolve,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_environment_minute f
        JOIN w ON w.scope = 'sensor' AND f.datetime_key >= w.key_start AND f.datetime_key < w.key_end
        WHERE NOT EXISTS (SELECT 1 FROM gold.dim_datetime d WHERE d.datetime_key = f.datetime_key
                                                             AND d.date_key = f.date_key)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_room r WHERE r.room_key = f.room_key
                          AND r.apartment_key = f.apartment_key AND r.apartment_id = f.apartment_id)
    ) AS environment_keys_resolve,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_presence_minute f
        JOIN w ON w.scope = 'sensor' AND f.datetime_key >= w.key_start AND f.datetime_key < w.key_end
        WHERE NOT EXISTS (SELECT 1 FROM gold.dim_datetime d WHERE d.datetime_key = f.datetime_key
                                                             AND d.date_key = f.date_key)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_room r WHERE r.room_key = f.room_key
                          AND r.apartment_key = f.apartment_key AND r.apartment_id = f.apartment_id)
    ) AS presence_keys_resolve,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_device_health_day f
        JOIN w ON w.scope = 'sensor' AND f.date_key BETWEEN w.date_key_start AND w.date_key_end
        WHERE NOT EXISTS (SELECT 1 FROM gold.dim_date d WHERE d.date_key = f.date_key)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_device d WHERE d.device_key = f.device_key
                          AND d.room_key = f.room_key AND d.apartment_id = f.apartment_id)
    ) AS health_keys_resolve,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_weather_hour f
        JOIN w ON w.scope = 'weather' AND f.date_key BETWEEN w.date_key_start AND w.date_key_end
        WHERE NOT EXISTS (SELECT 1 FROM gold.dim_datetime d WHERE d.datetime_key = f.datetime_key
                                                             AND d.date_key = f.date_key)
           OR NOT EXISTS (SELECT 1 FROM gold.dim_weather_site s WHERE s.site_key = f.site_key)
    ) AS weather_keys_resolve,
    NOT EXISTS (
        SELECT 1 FROM gold.dim_date d
        JOIN w ON d.date_key BETWEEN w.date_key_start AND w.date_key_end
        WHERE (SELECT count(*) FROM gold.dim_datetime t WHERE t.date_key = d.date_key) <> 1440
    ) AS calendar_complete
