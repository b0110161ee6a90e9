-- Quality gates of the forecasts one run wrote for its issue day:
-- one row per failed check, none when the issue is sound. Every apartment: each of the 24 next-day hours exactly
-- once, the day after (horizons 25..48, issued where the weather forecast covers it) at most once per hour;
-- every (apartment, room) bound by the caller: 24 presence hours.
WITH issued AS (
    SELECT * FROM gold.fact_ml_predictions WHERE issue_date = %(issue_date)s AND run_id = %(run_id)s
),
energy_cells AS (
    SELECT apartment_id,
           count(DISTINCT target_datetime_key) FILTER (WHERE horizon_hours <= 24) AS hours,
           count(*) FILTER (WHERE horizon_hours <= 24) AS rows_,
           count(*) - count(DISTINCT target_datetime_key) AS duplicates
    FROM issued WHERE target = 'energy_kwh' GROUP BY apartment_id
),
presence_cells AS (
    SELECT apartment_id, room_key, count(DISTINCT target_datetime_key) AS hours, count(*) AS rows_
    FROM issued WHERE target = 'presence' GROUP BY apartment_id, room_key
)
SELECT 'energy hours missing or repeated for ' || a.apartment_id || ': ' || coalesce(e.hours, 0)
       || ' next-day hours of 24, ' || coalesce(e.duplicates, 0) || ' repeated'
FROM unnest(%(apartments)s::text[]) AS a(apartment_id)
LEFT JOIN energy_cells e USING (apartment_id)
WHERE coalesce(e.hours, 0) <> 24 OR e.rows_ <> e.hours OR e.duplicates > 0
UNION ALL
SELECT 'presence hours missing for room ' || r.room_key || ' of ' || r.apartment_id || ': '
       || coalesce(p.hours, 0) || ' of 24'
FROM unnest(%(room_apartments)s::text[], %(room_keys)s::bigint[]) AS r(apartment_id, room_key)
LEFT JOIN presence_cells p USING (apartment_id, room_key)
WHERE coalesce(p.hours, 0) <> 24 OR p.rows_ <> p.hours
UNION ALL
SELECT 'probability outside [0, 1] or NaN: ' || count(*) FROM issued
WHERE target = 'presence' AND (probability = 'NaN' OR probability < 0 OR probability > 1) HAVING count(*) > 0
UNION ALL
SELECT 'kWh negative or NaN: ' || count(*) FROM issued
WHERE target = 'energy_kwh' AND (value_kwh = 'NaN' OR value_kwh < 0) HAVING count(*) > 0
UNION ALL
SELECT 'horizon outside the issue: ' || count(*) FROM issued
WHERE horizon_hours > CASE target WHEN 'energy_kwh' THEN 48 ELSE 24 END HAVING count(*) > 0
