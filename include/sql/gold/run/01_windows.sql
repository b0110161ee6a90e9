-- The windows to rebuild, half-open [ws, we), UTC, whole minutes, merged (no overlap within a scope).
-- scope 'sensor': sensor facts, device health, calendar. scope 'weather': weather facts, calendar.
CREATE TEMP TABLE gold_window ON COMMIT DROP AS
SELECT 'sensor'::text AS scope, w.ws, w.we
FROM unnest(%(sensor_starts)s::timestamptz[], %(sensor_ends)s::timestamptz[]) AS w(ws, we)
UNION ALL
SELECT 'weather'::text, w.ws, w.we
FROM unnest(%(weather_starts)s::timestamptz[], %(weather_ends)s::timestamptz[]) AS w(ws, we)
