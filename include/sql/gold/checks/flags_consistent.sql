-- Quality gate (SQLCheckOperator): flags and derived values agree with the counts they come from, in the rows
-- of the latest build's windows (gold.build_window). One row of booleans; any false fails the gate.
WITH w AS (
    SELECT key_start, key_end, date_key_start, date_key_end FROM gold.build_window WHERE scope = 'sensor'
)
SELECT
    NOT EXISTS (
        SELECT 1 FROM gold.fact_presence_minute p
        JOIN w ON p.datetime_key >= w.key_start AND p.datetime_key < w.key_end
        WHERE p.presence_flag IS DISTINCT FROM (p.motion_count > 0 OR p.door_transition_count > 0)
    ) AS presence_flag_matches_counts,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_energy_minute e
        JOIN w ON e.datetime_key >= w.key_start AND e.datetime_key < w.key_end
        WHERE e.energy_wh < 0
           OR abs(e.energy_kwh * 1000 - e.energy_wh) > 1e-6
           OR (e.energy_wh IS NULL) <> (e.energy_kwh IS NULL)
           OR (e.is_counter_reset AND e.energy_wh IS DISTINCT FROM e.counter_total)
           OR (e.meter_role = 'house_meter' AND e.counter_total IS NOT NULL)
           OR (e.meter_role = 'plug' AND e.energy_wh IS NOT NULL AND e.counter_total IS NULL)
    ) AS energy_consistent,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_environment_minute v
        JOIN w ON v.datetime_key >= w.key_start AND v.datetime_key < w.key_end
        WHERE (v.temperature_c IS NULL) <> (v.temperature_source IS NULL)
           OR (v.humidity_pct IS NULL) <> (v.humidity_source IS NULL)
    ) AS environment_sources_consistent,
    NOT EXISTS (
        SELECT 1 FROM gold.fact_device_health_day h
        JOIN w ON h.date_key BETWEEN w.date_key_start AND w.date_key_end
        WHERE h.missing_readings <> greatest(h.covered_minutes - h.reading_minutes, 0)
           OR h.uptime_pct NOT BETWEEN 0 AND 100
           OR (h.reading_minutes = 0) <> (h.uptime_pct = 0)
    ) AS health_counts_consistent
