-- BI measures, defined once in the warehouse: views over the Gold star schema that any BI tool reads
-- (Superset's datasets in bi/assets/ do; Power BI or a notebook can too). Definitions: docs/bi.md.
--
-- Every view is security_invoker: it is evaluated with the privileges and the row-level security of the role
-- that queries it, never of its owner. A login in role_jimmy reading gold.bi_energy_hour gets exactly the
-- rows gold.fact_energy_minute shows role_jimmy. SELECT is therefore granted to PUBLIC: a role that may not
-- read the facts underneath gets "permission denied" from the view too, and one that may read them gets only
-- the rows its policies allow (tests/integration/test_bi_measures.py checks both).
--
-- Time: every view carries its bucket in UTC (hour_utc, timestamptz; or the UTC day) and as Europe/Zurich
-- wall-clock time (hour_local, local_date), which dashboards show. On the autumn DST change the local hour
-- 02:00 appears twice: two rows with the same hour_local, told apart by hour_utc.
--
-- Comfort bands (docs/bi.md, "Measures"): temperature below 20 °C cold, 20-24 °C comfortable, above 24 °C
-- warm; CO2 up to 1000 ppm good, 1000-1400 ppm moderate, above 1400 ppm poor.

CREATE OR REPLACE FUNCTION gold.temperature_band(temperature_c double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN temperature_c IS NULL THEN NULL
                WHEN temperature_c < 20 THEN 'cold'
                WHEN temperature_c <= 24 THEN 'comfortable'
                ELSE 'warm' END
$$;

CREATE OR REPLACE FUNCTION gold.co2_band(co2_ppm double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN co2_ppm IS NULL THEN NULL
                WHEN co2_ppm <= 1000 THEN 'good'
                WHEN co2_ppm <= 1400 THEN 'moderate'
                ELSE 'poor' END
$$;

-- Energy per apartment and hour, from the whole-house meter ONLY: the plugs sit behind it, so adding them
-- would count their energy twice. energy_kwh and cost_chf add up over any period; power is the hour's mean
-- and peak of the meter's minute readings.
CREATE OR REPLACE VIEW gold.bi_energy_hour WITH (security_invoker = true) AS
WITH hourly AS (
    SELECT apartment_id, datetime_key / 100 * 100 AS hour_key,
           sum(energy_kwh) AS energy_kwh, sum(cost_chf) AS cost_chf,
           avg(power_w) AS avg_power_w, max(power_w) AS peak_power_w, count(power_w) AS power_minutes
    FROM gold.fact_energy_minute
    WHERE meter_role = 'house_meter' AND is_valid
    GROUP BY apartment_id, datetime_key / 100
)
SELECT h.apartment_id, t.timestamp_utc AS hour_utc, t.local_timestamp AS hour_local, t.local_date,
       t.local_day_of_week AS day_of_week, t.local_hour AS hour_of_day, t.is_holiday,
       h.energy_kwh, h.cost_chf, h.avg_power_w, h.peak_power_w, h.power_minutes
FROM hourly h
JOIN gold.dim_datetime t ON t.datetime_key = h.hour_key;

-- Energy per plug (appliance or socket) and local day: the breakdown of the house meter's figure, never to be
-- added to it. unmetered = house meter minus every plug is in gold.bi_energy_day.
CREATE OR REPLACE VIEW gold.bi_plug_energy_day WITH (security_invoker = true) AS
SELECT f.apartment_id, t.local_date, d.room_name, d.device_id, d.device_name,
       sum(f.energy_kwh) AS energy_kwh, sum(f.cost_chf) AS cost_chf, avg(f.power_w) AS avg_power_w
FROM gold.fact_energy_minute f
JOIN gold.dim_datetime t ON t.datetime_key = f.datetime_key
JOIN gold.dim_device d ON d.device_key = f.device_key
WHERE f.meter_role = 'plug' AND f.is_valid
GROUP BY f.apartment_id, t.local_date, d.room_name, d.device_id, d.device_name;

-- Energy per apartment and local day: house meter total, the plugs' share, and what no plug measures.
CREATE OR REPLACE VIEW gold.bi_energy_day WITH (security_invoker = true) AS
WITH house AS (
    SELECT apartment_id, local_date, sum(energy_kwh) AS energy_kwh, sum(cost_chf) AS cost_chf,
           max(peak_power_w) AS peak_power_w
    FROM gold.bi_energy_hour GROUP BY apartment_id, local_date
), plugs AS (
    SELECT apartment_id, local_date, sum(energy_kwh) AS plug_energy_kwh
    FROM gold.bi_plug_energy_day GROUP BY apartment_id, local_date
)
SELECT h.apartment_id, h.local_date, h.energy_kwh, h.cost_chf, h.peak_power_w,
       coalesce(p.plug_energy_kwh, 0) AS plug_energy_kwh,
       greatest(h.energy_kwh - coalesce(p.plug_energy_kwh, 0), 0) AS unmetered_energy_kwh
FROM house h
LEFT JOIN plugs p USING (apartment_id, local_date);

-- Indoor and outdoor climate per room and hour. avg_* are the hour's means; *_minutes count the minutes
-- with a value, so a longer period's mean is sum(avg_x * x_minutes) / sum(x_minutes) (the Superset metrics
-- do exactly that). Comfort: minutes of the hour in each band (indoor rooms only; NULL outdoors).
CREATE OR REPLACE VIEW gold.bi_environment_hour WITH (security_invoker = true) AS
WITH hourly AS (
    SELECT f.apartment_id, f.room_key, f.datetime_key / 100 * 100 AS hour_key, bool_or(f.is_outdoor) AS is_outdoor,
           avg(f.temperature_c) AS avg_temperature_c, count(f.temperature_c) AS temperature_minutes,
           avg(f.humidity_pct) AS avg_humidity_pct, count(f.humidity_pct) AS humidity_minutes,
           avg(f.co2_ppm) AS avg_co2_ppm, count(f.co2_ppm) AS co2_minutes,
           avg(f.noise_db) AS avg_noise_db, count(f.noise_db) AS noise_minutes,
           avg(f.pressure_hpa) AS avg_pressure_hpa, count(f.pressure_hpa) AS pressure_minutes,
           avg(f.light_lux) AS avg_light_lux,
           count(*) FILTER (WHERE f.window_open_flag) AS window_open_minutes,
           count(*) FILTER (WHERE gold.temperature_band(f.temperature_c) = 'cold') AS cold_minutes,
           count(*) FILTER (WHERE gold.temperature_band(f.temperature_c) = 'comfortable') AS comfortable_minutes,
           count(*) FILTER (WHERE gold.temperature_band(f.temperature_c) = 'warm') AS warm_minutes,
           count(*) FILTER (WHERE gold.co2_band(f.co2_ppm) = 'good') AS co2_good_minutes,
           count(*) FILTER (WHERE gold.co2_band(f.co2_ppm) = 'moderate') AS co2_moderate_minutes,
           count(*) FILTER (WHERE gold.co2_band(f.co2_ppm) = 'poor') AS co2_poor_minutes
    FROM gold.fact_environment_minute f
    WHERE NOT f.is_anomaly
    GROUP BY f.apartment_id, f.room_key, f.datetime_key / 100
)
SELECT h.apartment_id, r.room_name, h.is_outdoor, t.timestamp_utc AS hour_utc, t.local_timestamp AS hour_local,
       t.local_date, h.avg_temperature_c, h.temperature_minutes, h.avg_humidity_pct, h.humidity_minutes,
       h.avg_co2_ppm, h.co2_minutes, h.avg_noise_db, h.noise_minutes, h.avg_pressure_hpa, h.pressure_minutes,
       h.avg_light_lux, h.window_open_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.cold_minutes END AS cold_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.comfortable_minutes END AS comfortable_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.warm_minutes END AS warm_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.co2_good_minutes END AS co2_good_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.co2_moderate_minutes END AS co2_moderate_minutes,
       CASE WHEN NOT h.is_outdoor THEN h.co2_poor_minutes END AS co2_poor_minutes
FROM hourly h
JOIN gold.dim_room r ON r.room_key = h.room_key
JOIN gold.dim_datetime t ON t.datetime_key = h.hour_key;

-- Comfort per indoor room and local day, long form (one row per measure and band) for stacked charts:
-- hours spent in each band and their share of the hours with a value.
CREATE OR REPLACE VIEW gold.bi_comfort_day WITH (security_invoker = true) AS
WITH minutes AS (
    SELECT f.apartment_id, r.room_name, t.local_date, 'temperature' AS measure,
           gold.temperature_band(f.temperature_c) AS band
    FROM gold.fact_environment_minute f
    JOIN gold.dim_room r ON r.room_key = f.room_key
    JOIN gold.dim_datetime t ON t.datetime_key = f.datetime_key
    WHERE NOT f.is_outdoor AND NOT f.is_anomaly AND f.temperature_c IS NOT NULL
    UNION ALL
    SELECT f.apartment_id, r.room_name, t.local_date, 'co2', gold.co2_band(f.co2_ppm)
    FROM gold.fact_environment_minute f
    JOIN gold.dim_room r ON r.room_key = f.room_key
    JOIN gold.dim_datetime t ON t.datetime_key = f.datetime_key
    WHERE NOT f.is_outdoor AND NOT f.is_anomaly AND f.co2_ppm IS NOT NULL
)
SELECT apartment_id, room_name, local_date, measure, band, count(*) / 60.0 AS hours,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY apartment_id, room_name, local_date, measure),
             2) AS share_pct
FROM minutes
GROUP BY apartment_id, room_name, local_date, measure, band;

-- Presence per room and hour: presence minutes (motion, or a door opened or closed, in that minute), motion
-- events and door transitions. presence_hours adds up over rooms only as "room-hours"; the apartment's
-- occupied hours (any room) are in gold.bi_occupancy_hour.
CREATE OR REPLACE VIEW gold.bi_presence_hour WITH (security_invoker = true) AS
WITH hourly AS (
    SELECT apartment_id, room_key, datetime_key / 100 * 100 AS hour_key,
           count(*) FILTER (WHERE presence_flag) AS presence_minutes,
           sum(motion_count) AS motion_events, sum(door_transition_count) AS door_transitions
    FROM gold.fact_presence_minute
    GROUP BY apartment_id, room_key, datetime_key / 100
)
SELECT h.apartment_id, r.room_name, t.timestamp_utc AS hour_utc, t.local_timestamp AS hour_local, t.local_date,
       t.local_hour AS hour_of_day, h.presence_minutes, h.presence_minutes / 60.0 AS presence_hours,
       h.motion_events, h.door_transitions
FROM hourly h
JOIN gold.dim_room r ON r.room_key = h.room_key
JOIN gold.dim_datetime t ON t.datetime_key = h.hour_key;

-- Occupancy per apartment and hour: minutes with presence in ANY room (a minute counts once however many
-- rooms saw someone). occupied_hours adds up over any period.
CREATE OR REPLACE VIEW gold.bi_occupancy_hour WITH (security_invoker = true) AS
WITH hourly AS (
    SELECT apartment_id, datetime_key / 100 * 100 AS hour_key,
           count(DISTINCT datetime_key) FILTER (WHERE presence_flag) AS occupied_minutes
    FROM gold.fact_presence_minute
    GROUP BY apartment_id, datetime_key / 100
)
SELECT h.apartment_id, t.timestamp_utc AS hour_utc, t.local_timestamp AS hour_local, t.local_date,
       t.local_hour AS hour_of_day, t.local_day_of_week AS day_of_week, h.occupied_minutes,
       h.occupied_minutes / 60.0 AS occupied_hours
FROM hourly h
JOIN gold.dim_datetime t ON t.datetime_key = h.hour_key;

-- Device health per device and UTC day. uptime_pct of one row is Gold's; over several rows or devices the
-- uptime is 100 * sum(reading_minutes) / sum(covered_minutes), never the mean of the percentages.
CREATE OR REPLACE VIEW gold.bi_device_health_day WITH (security_invoker = true) AS
SELECT f.apartment_id, d.date AS day, dv.room_name, dv.device_id, dv.device_name, dv.sensor_type,
       dv.is_battery_powered, f.covered_minutes, f.reading_minutes, f.missing_readings, f.uptime_pct,
       f.outlier_count, f.battery_min_pct, f.battery_avg_pct, f.error_count
FROM gold.fact_device_health_day f
JOIN gold.dim_date d ON d.date_key = f.date_key
JOIN gold.dim_device dv ON dv.device_key = f.device_key;

-- Weather forecast per configured site and hour (the latest forecast of each hour; public data, no tenant).
CREATE OR REPLACE VIEW gold.bi_weather_hour WITH (security_invoker = true) AS
SELECT s.site_name, t.timestamp_utc AS hour_utc, t.local_timestamp AS hour_local, t.local_date,
       w.temperature_c, w.humidity_pct, w.precipitation_mm, w.radiation_wm2, w.prediction_date
FROM gold.fact_weather_hour w
JOIN gold.dim_weather_site s ON s.site_key = w.site_key
JOIN gold.dim_datetime t ON t.datetime_key = w.datetime_key;

GRANT EXECUTE ON FUNCTION gold.temperature_band(double precision), gold.co2_band(double precision) TO PUBLIC;
GRANT SELECT ON gold.bi_energy_hour, gold.bi_plug_energy_day, gold.bi_energy_day, gold.bi_environment_hour,
    gold.bi_comfort_day, gold.bi_presence_hour, gold.bi_occupancy_hour, gold.bi_device_health_day,
    gold.bi_weather_hour TO PUBLIC;
