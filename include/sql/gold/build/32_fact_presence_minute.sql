-- gold.fact_presence_minute: rebuilds the presence facts of the minutes in gold_minute.
-- Grain: (datetime_key, room_key), one row per room and UTC minute with a motion or door reading.
-- Source: silver.sensor_readings via gold_series (presence_measure: motion sensor `motion`, door `open`).
--   motion_count           motion sensors of the room reading motion (1) in that minute.
--   door_open_flag         some door contact of the room reads open in that minute; NULL without door reading.
--   door_transition_count  door contacts whose reading differs from their previous reading (the latest one
--                          before this minute, within lookback_minutes, looked up before the window when
--                          needed); a first reading without a previous one is no transition. A change hidden
--                          in a gap shows at the minute of the reading that reveals it.
--   presence_flag          motion_count > 0 OR door_transition_count > 0: a door standing open is no presence.
--   presence_prob          NULL until a model fills it (the build leaves an existing value untouched).
WITH room_minute AS (   -- per segment (at most an hour), per room and minute
    SELECT x.*
    FROM gold_segment m
    CROSS JOIN LATERAL (
        SELECT f.ts, f.room_key,
               count(*) FILTER (WHERE f.presence_measure = 'motion' AND f.value = 1)::integer AS motion_count,
               bool_or(f.value = 1) FILTER (WHERE f.presence_measure = 'door')               AS door_open_flag,
               count(*) FILTER (WHERE f.changed)::integer                                    AS door_transition_count
        FROM (   -- door transitions against the previous reading; a segment's first one looks it up before
            SELECT d.ts, d.room_key, d.presence_measure, d.value,
                   d.presence_measure = 'door'
                   AND d.value <> CASE WHEN d.lag_ts IS NULL THEN lb.value
                                       WHEN d.lag_ts >= d.ts - make_interval(mins => %(lookback_minutes)s)
                                       THEN d.lag_value
                                  END AS changed
            FROM (
                SELECT r.ts, g.room_key, g.series_id, g.presence_measure, r.value,
                       lag(r.value) OVER w AS lag_value,
                       lag(r.ts) OVER w    AS lag_ts
                FROM (   -- one primary-key range scan per segment (OFFSET 0 keeps the planner from scanning it
                       -- again for every series)
                    SELECT ts, value, series_id, is_outlier FROM silver.sensor_readings
                    WHERE ts >= m.seg_start AND ts < m.seg_end
                    OFFSET 0
                ) AS r
                JOIN gold_series g ON g.series_id = r.series_id
                WHERE g.presence_measure IS NOT NULL
                WINDOW w AS (PARTITION BY g.series_id ORDER BY r.ts)
            ) AS d
            LEFT JOIN LATERAL (
                SELECT p.value
                FROM silver.sensor_readings p
                WHERE d.lag_ts IS NULL AND d.presence_measure = 'door'
                  AND p.series_id = d.series_id
                  AND p.ts < m.seg_start
                  AND p.ts >= d.ts - make_interval(mins => %(lookback_minutes)s)
                ORDER BY p.ts DESC
                LIMIT 1
            ) AS lb ON true
        ) AS f
        GROUP BY f.ts, f.room_key
    ) AS x
),
src AS MATERIALIZED (
    SELECT m.datetime_key, x.room_key, m.date_key, rm.apartment_key, rm.apartment_id, x.motion_count,
           x.door_open_flag, x.door_transition_count,
           x.motion_count > 0 OR x.door_transition_count > 0 AS presence_flag
    FROM room_minute x
    JOIN gold_minute m ON m.ts = x.ts
    JOIN gold.dim_room rm ON rm.room_key = x.room_key
),
updated AS (
    UPDATE gold.fact_presence_minute f
    SET date_key = s.date_key,
        apartment_key = s.apartment_key,
        apartment_id = s.apartment_id,
        motion_count = s.motion_count,
        door_open_flag = s.door_open_flag,
        door_transition_count = s.door_transition_count,
        presence_flag = s.presence_flag
    FROM src s
    WHERE f.datetime_key = s.datetime_key AND f.room_key = s.room_key
      AND f.datetime_key >= (SELECT min(key_start) FROM gold_segment)
      AND f.datetime_key < (SELECT max(key_end) FROM gold_segment)
      AND (f.date_key, f.apartment_key, f.apartment_id, f.motion_count, f.door_open_flag,
           f.door_transition_count, f.presence_flag)
          IS DISTINCT FROM
          (s.date_key, s.apartment_key, s.apartment_id, s.motion_count, s.door_open_flag,
           s.door_transition_count, s.presence_flag)
),
inserted AS (
    INSERT INTO gold.fact_presence_minute
        (datetime_key, room_key, date_key, apartment_key, apartment_id, motion_count, door_open_flag,
         door_transition_count, presence_flag)
    SELECT datetime_key, room_key, date_key, apartment_key, apartment_id, motion_count, door_open_flag,
           door_transition_count, presence_flag
    FROM src s
    -- in apartment order: an owner's rows of a window share heap pages (a day of one apartment is ~100 pages,
    -- not one page per row among 1,000 apartments' rows), so a tenant's query cost does not grow with tenants
    ORDER BY apartment_key, datetime_key
    -- rows that exist were handled by `updated`; a conflict is checked on the primary key's index (an
    -- anti join planned on an empty table's statistics scanned the growing table once per row)
    ON CONFLICT ON CONSTRAINT fact_presence_minute_pkey DO NOTHING
)
DELETE FROM gold.fact_presence_minute f
USING gold_segment g
WHERE f.datetime_key >= g.key_start AND f.datetime_key < g.key_end
  AND NOT EXISTS (SELECT 1 FROM src s
                  WHERE f.datetime_key = s.datetime_key
                      AND f.room_key = s.room_key)
