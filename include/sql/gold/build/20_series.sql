-- Runs after the dimension templates: every Silver series with its device, room and apartment keys and the
-- role it plays in each fact (NULL = none). The facts join readings to this small table.
--   energy_measure:   plug power / house-meter total_power -> 'power'; plug total -> 'counter'
--   env_slot:         10 * measure + source precedence (1 meteo station > 2 humidity sensor > 3 motion sensor):
--                     temperature 11 meteo temperature_c, 12 humidity-sensor temperature, 13 motion temperature;
--                     humidity 21 meteo humidity_pct, 22 humidity-sensor humidity; co2 31, noise 41, pressure 51
--                     (meteo); light 61 (motion); window open 71, door open 81 (contacts). Plug temperature: none.
--                     A small integer: cheap to filter on in the per-minute pivot.
--   presence_measure: 'motion' (motion sensor) or 'door' (door contact open)
--   is_primary:       the device's main measure, whose readings count for its uptime: plug power, contact
--                     open, motion motion, meteo temperature_c, humidity humidity, house-meter total_power
CREATE TEMP TABLE gold_series ON COMMIT DROP AS
SELECT s.series_id,
       s.sensor_type,
       s.field,
       s.sensor_index,
       d.device_key,
       d.room_key,
       d.apartment_key,
       d.apartment_id,
       d.meter_role,
       r.is_outdoor,
       CASE WHEN s.sensor_type = 'plug' AND s.field = 'power' THEN 'power'
            WHEN s.sensor_type = 'plug' AND s.field = 'total' THEN 'counter'
            WHEN s.sensor_type = 'consumption' AND s.field = 'total_power' THEN 'power'
       END AS energy_measure,
       CASE WHEN (s.sensor_type, s.field) = ('meteo', 'temperature_c') THEN 11
            WHEN (s.sensor_type, s.field) = ('humidity', 'temperature') THEN 12
            WHEN (s.sensor_type, s.field) = ('motion', 'temperature') THEN 13
            WHEN (s.sensor_type, s.field) = ('meteo', 'humidity_pct') THEN 21
            WHEN (s.sensor_type, s.field) = ('humidity', 'humidity') THEN 22
            WHEN (s.sensor_type, s.field) = ('meteo', 'co2_ppm') THEN 31
            WHEN (s.sensor_type, s.field) = ('meteo', 'noise_db') THEN 41
            WHEN (s.sensor_type, s.field) = ('meteo', 'pressure_hpa') THEN 51
            WHEN (s.sensor_type, s.field) = ('motion', 'light') THEN 61
            WHEN (s.sensor_type, s.field) = ('window', 'open') THEN 71
            WHEN (s.sensor_type, s.field) = ('door', 'open') THEN 81
       END::smallint AS env_slot,
       CASE WHEN (s.sensor_type, s.field) = ('motion', 'motion') THEN 'motion'
            WHEN (s.sensor_type, s.field) = ('door', 'open') THEN 'door'
       END AS presence_measure,
       (s.sensor_type, s.field) IN (('plug', 'power'), ('door', 'open'), ('window', 'open'), ('motion', 'motion'),
                                    ('meteo', 'temperature_c'), ('humidity', 'humidity'),
                                    ('consumption', 'total_power')) AS is_primary
FROM silver.sensor_series s
JOIN gold.dim_device d
  ON d.apartment_id = s.apartment AND d.room_name = s.room
 AND d.sensor_type = s.sensor_type AND d.sensor_index = s.sensor_index
JOIN gold.dim_room r ON r.room_key = d.room_key
