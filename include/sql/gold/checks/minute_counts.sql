-- Quality gate (SQLCheckOperator): Gold's minute counts agree with Silver's for the latest build's sensor windows
-- (gold.build_window): per apartment, the minutes with an energy / environment / presence reading in
-- silver.sensor_readings are exactly the minutes with rows in the matching fact. One row of booleans.
WITH w AS (
    SELECT window_start, window_end, key_start, key_end FROM gold.build_window WHERE scope = 'sensor'
),
silver_minute AS (
    SELECT r.ts, s.apartment,
           bool_or((s.sensor_type = 'plug' AND s.field IN ('power', 'total'))
                   OR (s.sensor_type = 'consumption' AND s.field = 'total_power')) AS energy,
           bool_or((s.sensor_type = 'meteo' AND s.field IN ('temperature_c', 'humidity_pct', 'co2_ppm',
                                                            'noise_db', 'pressure_hpa'))
                   OR (s.sensor_type = 'humidity' AND s.field IN ('temperature', 'humidity'))
                   OR (s.sensor_type = 'motion' AND s.field IN ('temperature', 'light'))
                   OR (s.sensor_type IN ('door', 'window') AND s.field = 'open')) AS environment,
           bool_or((s.sensor_type = 'motion' AND s.field = 'motion')
                   OR (s.sensor_type = 'door' AND s.field = 'open')) AS presence
    FROM w
    JOIN silver.sensor_readings r ON r.ts >= w.window_start AND r.ts < w.window_end
    JOIN silver.sensor_series s ON s.series_id = r.series_id
    GROUP BY r.ts, s.apartment
),
silver_count AS (
    SELECT apartment,
           count(*) FILTER (WHERE energy)      AS energy,
           count(*) FILTER (WHERE environment) AS environment,
           count(*) FILTER (WHERE presence)    AS presence
    FROM silver_minute
    GROUP BY apartment
),
gold_count AS (
    SELECT apartment_id AS apartment, fact, count(DISTINCT datetime_key) AS minutes
    FROM (
        SELECT 'energy' AS fact, apartment_id, datetime_key FROM gold.fact_energy_minute
        UNION ALL
        SELECT 'environment', apartment_id, datetime_key FROM gold.fact_environment_minute
        UNION ALL
        SELECT 'presence', apartment_id, datetime_key FROM gold.fact_presence_minute
    ) AS f
    WHERE EXISTS (SELECT 1 FROM w WHERE f.datetime_key >= w.key_start AND f.datetime_key < w.key_end)
    GROUP BY apartment_id, fact
),
compared AS (
    SELECT coalesce(s.apartment, g.apartment) AS apartment, x.fact,
           coalesce(CASE x.fact WHEN 'energy' THEN s.energy WHEN 'environment' THEN s.environment
                                ELSE s.presence END, 0) AS silver_minutes,
           coalesce(g.minutes, 0) AS gold_minutes
    FROM silver_count s
    CROSS JOIN (VALUES ('energy'), ('environment'), ('presence')) AS x(fact)
    FULL JOIN gold_count g ON g.apartment = s.apartment AND g.fact = x.fact
)
SELECT coalesce(bool_and(silver_minutes = gold_minutes) FILTER (WHERE fact = 'energy'), true)      AS energy_minutes_match,
       coalesce(bool_and(silver_minutes = gold_minutes) FILTER (WHERE fact = 'environment'), true) AS environment_minutes_match,
       coalesce(bool_and(silver_minutes = gold_minutes) FILTER (WHERE fact = 'presence'), true)    AS presence_minutes_match
FROM compared
