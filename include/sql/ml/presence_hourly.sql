-- Hourly presence per room: whether the room showed presence (motion, or a door opened or closed) in any minute
-- of the UTC hour, from gold.fact_presence_minute. An hour with fewer than min_minutes minutes of readings is
-- left out (unknown, not "empty").
SELECT f.apartment_id,
       f.room_key,
       r.room_name,
       f.datetime_key / 100 AS hour_key,                  -- YYYYMMDDHH (UTC)
       bool_or(f.presence_flag) AS presence
FROM gold.fact_presence_minute f
JOIN gold.dim_room r ON r.room_key = f.room_key
WHERE f.datetime_key >= %(start_key)s AND f.datetime_key < %(end_key)s
GROUP BY f.apartment_id, f.room_key, r.room_name, f.datetime_key / 100
HAVING count(*) >= %(min_minutes)s
