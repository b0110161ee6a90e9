-- gold.fact_energy_minute: rebuilds the energy facts of the minutes in gold_minute.
-- Grain: (datetime_key, device_key), one row per energy device and UTC minute with a power or counter reading.
-- Source: silver.sensor_readings (plug power/total, house-meter total_power) via gold_series; gold.dim_tariff.
--   power_w        the minute's power reading (plug `power`, house meter `total_power`), W.
--   counter_total  plugs: the raw cumulative counter `total` (Wh) of the minute; house meter: NULL.
--   energy_wh      plugs: counter_total minus the device's previous counter reading (the latest one before
--                  this minute, within lookback_minutes, looked up before the window when needed); if the
--                  counter went down, a new meter cycle started: energy_wh = counter_total (counted from
--                  zero); no previous reading within the lookback: NULL. The whole increase since the previous
--                  reading is attributed to the minute of the reading that reveals it (a gap spreads nothing).
--                  House meter (no counter): max(power_w, 0) / 60, the minute's power held for one minute.
--   energy_kwh     energy_wh / 1000.
--   cost_chf       energy_kwh * the tariff valid on the minute's local (Europe/Zurich) date; NULL without one.
--   is_counter_reset  the counter went down against its previous reading.
--   is_valid       none of the minute's power/counter readings is an outlier, and power_w is not negative.
-- Rows of rebuilt minutes that the source no longer produces are deleted; unchanged rows are not rewritten.
WITH sequenced AS (   -- per segment (at most an hour): one row per device and minute, with the device's previous
                     -- counter reading of the segment (rows without a counter form their own partition)
    SELECT x.*, m.seg_start
    FROM gold_segment m
    CROSS JOIN LATERAL (
        SELECT dm.ts, dm.device_key, dm.power_w, dm.counter_total, dm.counter_series, dm.any_outlier,
               lag(dm.counter_total) OVER w AS lag_value,
               lag(dm.ts) OVER w            AS lag_ts
        FROM (
            SELECT r.ts, g.device_key,
                   max(r.value) FILTER (WHERE g.energy_measure = 'power')       AS power_w,
                   max(r.value) FILTER (WHERE g.energy_measure = 'counter')     AS counter_total,
                   max(g.series_id) FILTER (WHERE g.energy_measure = 'counter') AS counter_series,
                   bool_or(r.is_outlier)                                        AS any_outlier
            FROM (   -- one primary-key range scan per segment (OFFSET 0 keeps the planner from scanning it
                   -- again for every series)
                SELECT ts, value, series_id, is_outlier FROM silver.sensor_readings
                WHERE ts >= m.seg_start AND ts < m.seg_end
                OFFSET 0
            ) AS r
            JOIN gold_series g ON g.series_id = r.series_id
            WHERE g.energy_measure IS NOT NULL
            GROUP BY r.ts, g.device_key
        ) AS dm
        WINDOW w AS (PARTITION BY dm.device_key, dm.counter_total IS NULL ORDER BY dm.ts)
    ) AS x
),
tariff AS (
    SELECT DISTINCT ON (d.local_date) d.local_date, t.chf_per_kwh::double precision AS chf_per_kwh
    FROM (SELECT DISTINCT local_date FROM gold_minute) AS d
    JOIN gold.dim_tariff t
      ON d.local_date >= t.valid_from AND (t.valid_to IS NULL OR d.local_date < t.valid_to)
    ORDER BY d.local_date, t.valid_from DESC
),
previous AS (   -- the previous counter reading: in the segment, or looked up before it (first of segment)
    SELECT s.*,
           CASE WHEN s.counter_total IS NULL THEN NULL
                WHEN s.lag_ts IS NULL THEN lb.value
                WHEN s.lag_ts >= s.ts - make_interval(mins => %(lookback_minutes)s) THEN s.lag_value
           END AS previous_total
    FROM sequenced s
    LEFT JOIN LATERAL (
        SELECT r.value
        FROM silver.sensor_readings r
        WHERE s.lag_ts IS NULL AND s.counter_total IS NOT NULL
          AND r.series_id = s.counter_series
          AND r.ts < s.seg_start
          AND r.ts >= s.ts - make_interval(mins => %(lookback_minutes)s)
        ORDER BY r.ts DESC
        LIMIT 1
    ) AS lb ON true
),
computed AS (
    SELECT m.datetime_key, p.device_key, m.date_key, m.local_date, d.room_key, d.apartment_key,
           d.apartment_id, d.meter_role, p.power_w, p.counter_total,
           CASE WHEN d.meter_role = 'house_meter' THEN greatest(p.power_w, 0) / 60.0
                WHEN p.previous_total IS NULL THEN NULL
                WHEN p.counter_total >= p.previous_total THEN p.counter_total - p.previous_total
                ELSE p.counter_total
           END AS energy_wh,
           coalesce(p.counter_total < p.previous_total, false) AS is_counter_reset,
           NOT p.any_outlier AND coalesce(p.power_w >= 0, true) AS is_valid
    FROM previous p
    JOIN gold_minute m ON m.ts = p.ts
    JOIN gold.dim_device d ON d.device_key = p.device_key
),
src AS MATERIALIZED (
    SELECT c.datetime_key, c.device_key, c.date_key, c.room_key, c.apartment_key, c.apartment_id, c.meter_role,
           c.power_w, c.counter_total, c.energy_wh,
           c.energy_wh / 1000.0                    AS energy_kwh,
           c.energy_wh / 1000.0 * t.chf_per_kwh    AS cost_chf,
           c.is_counter_reset, c.is_valid
    FROM computed c
    LEFT JOIN tariff t ON t.local_date = c.local_date
),
updated AS (
    UPDATE gold.fact_energy_minute f
    SET date_key = s.date_key,
        room_key = s.room_key,
        apartment_key = s.apartment_key,
        apartment_id = s.apartment_id,
        meter_role = s.meter_role,
        power_w = s.power_w,
        counter_total = s.counter_total,
        energy_wh = s.energy_wh,
        energy_kwh = s.energy_kwh,
        cost_chf = s.cost_chf,
        is_counter_reset = s.is_counter_reset,
        is_valid = s.is_valid
    FROM src s
    WHERE f.datetime_key = s.datetime_key AND f.device_key = s.device_key
      AND f.datetime_key >= (SELECT min(key_start) FROM gold_segment)
      AND f.datetime_key < (SELECT max(key_end) FROM gold_segment)
      AND (f.date_key, f.room_key, f.apartment_key, f.apartment_id, f.meter_role, f.power_w, f.counter_total,
           f.energy_wh, f.energy_kwh, f.cost_chf, f.is_counter_reset, f.is_valid)
          IS DISTINCT FROM
          (s.date_key, s.room_key, s.apartment_key, s.apartment_id, s.meter_role, s.power_w, s.counter_total,
           s.energy_wh, s.energy_kwh, s.cost_chf, s.is_counter_reset, s.is_valid)
),
inserted AS (
    INSERT INTO gold.fact_energy_minute
        (datetime_key, device_key, date_key, room_key, apartment_key, apartment_id, meter_role, power_w,
         counter_total, energy_wh, energy_kwh, cost_chf, is_counter_reset, is_valid)
    SELECT datetime_key, device_key, date_key, room_key, apartment_key, apartment_id, meter_role, power_w,
           counter_total, energy_wh, energy_kwh, cost_chf, is_counter_reset, is_valid
    FROM src s
    -- in apartment order: an owner's rows of a window share heap pages (a day of one apartment is ~100 pages,
    -- not one page per row among 1,000 apartments' rows), so a tenant's query cost does not grow with tenants
    ORDER BY apartment_key, datetime_key
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_energy_minute_pkey DO NOTHING
)
DELETE FROM gold.fact_energy_minute f
USING gold_segment g
WHERE f.datetime_key >= g.key_start AND f.datetime_key < g.key_end
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.datetime_key = s.datetime_key
                      AND f.device_key = s.device_key)
