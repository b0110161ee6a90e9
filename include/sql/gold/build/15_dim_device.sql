-- gold.dim_device: every device of silver.sensor_series = (apartment, room, sensor_type, sensor_index), all of
-- them, every build (a few dozen rows). device_id = gold.device_id(...), device_key = stable_key('device|' ||
-- device_id). meter_role: plug -> 'plug', consumption (the whole-house meter) -> 'house_meter'.
-- Reference matching (optional): a MySQL sensor (gold_ref_sensor) of the same apartment, normalised room and
-- kind (plug, motion, meteo, humidity, consumption (any room); door/window = type doorWindow whose name starts
-- with Door/Window), paired by position: the n-th such sensor by idSensor <-> sensor_index n. Appliance plugs
-- (Dishwasher...) match a MySQL device (gold_ref_device) of the same name. first_reading_ts is left to
-- fact_device_health_day.sql.
WITH alias AS (
    SELECT a.raw, a.room
    FROM unnest(%(room_alias_from)s::text[], %(room_alias_to)s::text[]) AS a(raw, room)
),
devices AS (
    SELECT apartment AS apartment_id, room AS room_name, sensor_type, sensor_index,
           bool_or(field = 'battery') AS has_battery
    FROM silver.sensor_series
    GROUP BY apartment, room, sensor_type, sensor_index
),
sensor AS (
    SELECT s.*, row_number() OVER (
               PARTITION BY s.apartment, s.kind, CASE WHEN s.kind = 'consumption' THEN '' ELSE s.room_name END
               ORDER BY s.sensor_id) - 1 AS kind_index
    FROM (
        SELECT r.apartment, coalesce(a.room, r.room_raw) AS room_name, r.sensor_id, r.name, r.active,
               CASE WHEN lower(r.type) IN ('doorwindow', 'door', 'window', 'contact')
                    THEN CASE WHEN starts_with(lower(r.name), 'window') THEN 'window'
                              WHEN starts_with(lower(r.name), 'door') THEN 'door' END
                    ELSE lower(r.type)
               END AS kind
        FROM gold_ref_sensor r
        LEFT JOIN alias a ON a.raw = r.room_raw
    ) AS s
    WHERE s.kind IS NOT NULL
),
appliance AS (
    SELECT DISTINCT ON (apartment, lower(name)) apartment, lower(name) AS name, name AS device_name, device_id,
           rated_power_w
    FROM gold_ref_device
    ORDER BY apartment, lower(name), device_id
),
src AS (
    SELECT gold.stable_key('device|' || gold.device_id(d.apartment_id, d.room_name, d.sensor_type, d.sensor_index))
               AS device_key,
           gold.device_id(d.apartment_id, d.room_name, d.sensor_type, d.sensor_index) AS device_id,
           gold.stable_key('apartment|' || d.apartment_id)                            AS apartment_key,
           d.apartment_id,
           gold.stable_key('room|' || d.apartment_id || '|' || d.room_name)           AS room_key,
           d.room_name,
           coalesce(p.device_name, s.name,
                    d.room_name || ' ' || d.sensor_type
                    || CASE WHEN d.sensor_index > 0 THEN ' ' || (d.sensor_index + 1)::text ELSE '' END)
                                                                                      AS device_name,
           d.sensor_type                                                              AS device_type,
           d.sensor_type,
           d.sensor_index,
           CASE d.sensor_type WHEN 'plug' THEN 'plug' WHEN 'consumption' THEN 'house_meter' END AS meter_role,
           d.has_battery                                                              AS is_battery_powered,
           coalesce(s.active, true)                                                   AS is_active,
           s.sensor_id                                                                AS reference_sensor_id,
           p.device_id                                                                AS reference_device_id,
           p.rated_power_w
    FROM devices d
    LEFT JOIN sensor s
      ON s.apartment = d.apartment_id AND s.kind = d.sensor_type AND s.kind_index = d.sensor_index
     AND (s.kind = 'consumption' OR s.room_name = d.room_name)
    LEFT JOIN appliance p
      ON d.sensor_type = 'plug' AND p.apartment = d.apartment_id AND p.name = lower(d.room_name)
)
INSERT INTO gold.dim_device AS t
    (device_key, device_id, apartment_key, apartment_id, room_key, room_name, device_name, device_type,
     sensor_type, sensor_index, meter_role, is_battery_powered, is_active, reference_sensor_id,
     reference_device_id, rated_power_w)
SELECT device_key, device_id, apartment_key, apartment_id, room_key, room_name, device_name, device_type,
       sensor_type, sensor_index, meter_role, is_battery_powered, is_active, reference_sensor_id,
       reference_device_id, rated_power_w
FROM src
ON CONFLICT (device_key) DO UPDATE
SET device_name = EXCLUDED.device_name, meter_role = EXCLUDED.meter_role,
    is_battery_powered = EXCLUDED.is_battery_powered, is_active = EXCLUDED.is_active,
    reference_sensor_id = EXCLUDED.reference_sensor_id, reference_device_id = EXCLUDED.reference_device_id,
    rated_power_w = EXCLUDED.rated_power_w
WHERE (t.device_name, t.meter_role, t.is_battery_powered, t.is_active, t.reference_sensor_id,
       t.reference_device_id, t.rated_power_w)
      IS DISTINCT FROM
      (EXCLUDED.device_name, EXCLUDED.meter_role, EXCLUDED.is_battery_powered, EXCLUDED.is_active,
       EXCLUDED.reference_sensor_id, EXCLUDED.reference_device_id, EXCLUDED.rated_power_w)
