-- gold.dim_room: every (apartment, room) of silver.sensor_series (all of them, every build: a few rows).
-- Grain: room of an apartment. Natural key (apartment_id, room_name); room_key = stable_key('room|' ||
-- apartment_id || '|' || room_name). room_type from the planner's lists (parameters outdoor_rooms,
-- meter_rooms, appliance_rooms), else 'indoor'. Reference attributes from silver.dim_rooms (gold_ref_room)
-- where its normalised name (parameters room_alias_from/to = domotic.flatten.ROOM_NAMES) matches.
WITH alias AS (
    SELECT a.raw, a.room
    FROM unnest(%(room_alias_from)s::text[], %(room_alias_to)s::text[]) AS a(raw, room)
),
rooms AS (
    SELECT DISTINCT apartment AS apartment_id, room AS room_name FROM silver.sensor_series
),
reference AS (
    SELECT DISTINCT ON (r.apartment, coalesce(a.room, r.room_raw))
           r.apartment, coalesce(a.room, r.room_raw) AS room_name, r.room_id, r.floor, r.orientation,
           r.surface_m2, r.has_window
    FROM gold_ref_room r
    LEFT JOIN alias a ON a.raw = r.room_raw
    ORDER BY r.apartment, coalesce(a.room, r.room_raw), r.room_id
),
src AS (
    SELECT gold.stable_key('room|' || x.apartment_id || '|' || x.room_name) AS room_key,
           gold.stable_key('apartment|' || x.apartment_id)                 AS apartment_key,
           x.apartment_id,
           x.room_name,
           CASE WHEN x.room_name = ANY (%(outdoor_rooms)s::text[]) THEN 'outdoor'
                WHEN x.room_name = ANY (%(meter_rooms)s::text[]) THEN 'meter'
                WHEN x.room_name = ANY (%(appliance_rooms)s::text[]) THEN 'appliance'
                ELSE 'indoor'
           END                                                             AS room_type,
           x.room_name = ANY (%(outdoor_rooms)s::text[])                   AS is_outdoor,
           r.room_id, r.floor, r.orientation, r.surface_m2, r.has_window
    FROM rooms x
    LEFT JOIN reference r ON r.apartment = x.apartment_id AND r.room_name = x.room_name
)
INSERT INTO gold.dim_room AS t
    (room_key, apartment_key, apartment_id, room_name, room_type, is_outdoor, room_id, floor, orientation,
     surface_m2, has_window)
SELECT room_key, apartment_key, apartment_id, room_name, room_type, is_outdoor, room_id, floor, orientation,
       surface_m2, has_window
FROM src
ON CONFLICT (room_key) DO UPDATE
SET room_type = EXCLUDED.room_type, is_outdoor = EXCLUDED.is_outdoor, room_id = EXCLUDED.room_id,
    floor = EXCLUDED.floor, orientation = EXCLUDED.orientation, surface_m2 = EXCLUDED.surface_m2,
    has_window = EXCLUDED.has_window
WHERE (t.room_type, t.is_outdoor, t.room_id, t.floor, t.orientation, t.surface_m2, t.has_window)
      IS DISTINCT FROM
      (EXCLUDED.room_type, EXCLUDED.is_outdoor, EXCLUDED.room_id, EXCLUDED.floor, EXCLUDED.orientation,
       EXCLUDED.surface_m2, EXCLUDED.has_window)
