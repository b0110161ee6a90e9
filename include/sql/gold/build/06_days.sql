-- The UTC days touched: by any window or rebuilt minute (calendar rows), and by the sensor windows
-- themselves (health_day: device health is recomputed for those whole days). Day arithmetic is done on
-- dates and on timestamps without time zone, never in the session time zone.
CREATE TEMP TABLE gold_day ON COMMIT DROP AS
SELECT day,
       to_char(day::timestamp, 'YYYYMMDD')::integer  AS date_key,
       day::timestamp AT TIME ZONE 'UTC'             AS day_start,
       (day + 1)::timestamp AT TIME ZONE 'UTC'       AS day_end,
       bool_or(health_day)                           AS health_day
FROM (
    SELECT d::date AS day, w.scope = 'sensor' AS health_day
    FROM gold_window w
    CROSS JOIN LATERAL generate_series((w.ws AT TIME ZONE 'UTC')::date::timestamp,
                                       ((w.we - interval '1 minute') AT TIME ZONE 'UTC')::date::timestamp,
                                       interval '1 day') AS d
    UNION ALL
    SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date, false
    FROM gold_minute
) AS touched
GROUP BY day
