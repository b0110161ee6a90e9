-- The UTC minutes whose sensor facts are rebuilt: every minute of the sensor windows, plus, for each series
-- whose facts depend on its previous reading (plug energy counters, door contacts), the minute of its first
-- reading after each window: that reading's energy or transition is measured against a reading the window may
-- have changed. Each minute gets its keys (UTC, explicit) and local date, and the start of its segment (run of
-- consecutive minutes within one UTC hour): facts are computed segment by segment, so the memory of a build is
-- that of one hour whatever the window, and a segment's first readings look their previous reading up. An hour,
-- not a day: a day of 1,000 apartments (72 M readings) grouped at once outgrew work_mem and spilled to disk;
-- the extra look-ups at 23 more segment starts a day cost nothing measurable at two apartments.
-- Index use: both lookups are range scans of the Silver primary key (ts, series_id).
CREATE TEMP TABLE gold_minute ON COMMIT DROP AS
WITH dependent AS (
    SELECT series_id
    FROM silver.sensor_series
    WHERE (sensor_type = 'plug' AND field = 'total') OR (sensor_type = 'door' AND field = 'open')
),
requested AS (
    SELECT DISTINCT m.ts
    FROM gold_window w
    CROSS JOIN LATERAL generate_series(w.ws, w.we - interval '1 minute', interval '1 minute') AS m(ts)
    WHERE w.scope = 'sensor'
),
following AS (
    SELECT DISTINCT nxt.ts
    FROM gold_window w
    CROSS JOIN dependent d
    CROSS JOIN LATERAL (
        SELECT r.ts
        FROM silver.sensor_readings r
        WHERE r.series_id = d.series_id
          AND r.ts >= w.we
          AND r.ts < w.we + make_interval(mins => %(lookback_minutes)s)
        ORDER BY r.ts
        LIMIT 1
    ) AS nxt
    WHERE w.scope = 'sensor'
),
minutes AS (
    SELECT ts FROM requested
    UNION
    SELECT ts FROM following
),
islands AS (
    SELECT ts, ts - make_interval(mins => (row_number() OVER (ORDER BY ts))::integer) AS island
    FROM minutes
)
SELECT ts,
       min(ts) OVER (PARTITION BY island, date_trunc('hour', ts AT TIME ZONE 'UTC')) AS seg_start,
       to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDDHH24MI')::bigint  AS datetime_key,
       to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD')::integer       AS date_key,
       (ts AT TIME ZONE %(local_tz)s)::date                      AS local_date
FROM islands
