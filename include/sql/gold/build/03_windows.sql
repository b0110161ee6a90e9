-- The windows to rebuild, half-open [ws, we), UTC, whole minutes, merged per scope (overlapping or touching
-- windows become one; no gap is ever filled): the claimed ledger changes (step 2) plus this run's own windows
-- (the UTC day of a time-based or manual run, or a manual run's conf window).
-- scope 'sensor': sensor facts, device health, calendar. scope 'weather': weather facts, calendar.
CREATE TEMP TABLE gold_window ON COMMIT DROP AS
WITH requested AS (
    SELECT scope, window_start AS ws, window_end AS we
    FROM gold_claimed
    WHERE scope IN ('sensor', 'weather')
    UNION ALL
    SELECT 'sensor', w.ws, w.we
    FROM unnest(%(sensor_starts)s::timestamptz[], %(sensor_ends)s::timestamptz[]) AS w(ws, we)
    UNION ALL
    SELECT 'weather', w.ws, w.we
    FROM unnest(%(weather_starts)s::timestamptz[], %(weather_ends)s::timestamptz[]) AS w(ws, we)
),
merged AS (
    SELECT scope, unnest(range_agg(tstzrange(ws, we))) AS span
    FROM requested
    GROUP BY scope
)
SELECT scope, lower(span) AS ws, upper(span) AS we
FROM merged
