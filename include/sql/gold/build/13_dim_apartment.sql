-- gold.dim_apartment: every apartment of silver.sensor_series (all of them, every build: a few rows).
-- Grain: apartment. Natural key apartment_id; apartment_key = stable_key('apartment|' || apartment_id).
-- Enriched from the reference snapshot (gold_ref_building) when it knows the apartment; building_name is
-- masked ('Building <id>'), owner_user_id stays NULL. Weather site: the apartment's own in the registry
-- (silver.apartment_registry.weather_site) when it is a configured site, else the first configured site.
WITH apartments AS (
    SELECT DISTINCT apartment AS apartment_id FROM silver.sensor_series
),
registry AS (
    SELECT r.apartment_id, r.weather_site FROM silver.apartment_registry r
),
building AS (
    SELECT DISTINCT ON (apartment) *
    FROM gold_ref_building
    ORDER BY apartment, building_id
),
site AS (
    SELECT s.site_key, s.site_name
    FROM gold.dim_weather_site s
    WHERE s.is_configured
),
first_site AS (
    SELECT s.site_key, s.site_name FROM site s WHERE s.site_name = trim((%(weather_sites)s::text[])[1])
),
src AS (
    SELECT gold.stable_key('apartment|' || a.apartment_id) AS apartment_key,
           a.apartment_id,
           a.apartment_id                                  AS name,
           NULL::text                                      AS owner_user_id,
           b.building_id,
           'Building ' || b.building_id                    AS building_name,
           b.building_type,
           b.building_year,
           b.nb_people,
           b.heating_electric,
           b.surface_m2,
           NULL::integer                                   AS floor,
           coalesce(own.site_key, s.site_key)              AS weather_site_key,
           coalesce(own.site_name, s.site_name)            AS weather_site_name
    FROM apartments a
    LEFT JOIN building b ON b.apartment = a.apartment_id
    LEFT JOIN registry r ON r.apartment_id = a.apartment_id
    LEFT JOIN site own ON own.site_name = r.weather_site
    LEFT JOIN first_site s ON true
)
INSERT INTO gold.dim_apartment AS t
    (apartment_key, apartment_id, name, owner_user_id, building_id, building_name, building_type, building_year,
     nb_people, heating_electric, surface_m2, floor, weather_site_key, weather_site_name)
SELECT apartment_key, apartment_id, name, owner_user_id, building_id, building_name, building_type,
       building_year, nb_people, heating_electric, surface_m2, floor, weather_site_key, weather_site_name
FROM src
ON CONFLICT (apartment_key) DO UPDATE
SET name = EXCLUDED.name, owner_user_id = EXCLUDED.owner_user_id, building_id = EXCLUDED.building_id,
    building_name = EXCLUDED.building_name, building_type = EXCLUDED.building_type,
    building_year = EXCLUDED.building_year, nb_people = EXCLUDED.nb_people,
    heating_electric = EXCLUDED.heating_electric, surface_m2 = EXCLUDED.surface_m2, floor = EXCLUDED.floor,
    weather_site_key = EXCLUDED.weather_site_key, weather_site_name = EXCLUDED.weather_site_name
WHERE (t.name, t.owner_user_id, t.building_id, t.building_name, t.building_type, t.building_year, t.nb_people,
       t.heating_electric, t.surface_m2, t.floor, t.weather_site_key, t.weather_site_name)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.owner_user_id, EXCLUDED.building_id, EXCLUDED.building_name,
       EXCLUDED.building_type, EXCLUDED.building_year, EXCLUDED.nb_people, EXCLUDED.heating_electric,
       EXCLUDED.surface_m2, EXCLUDED.floor, EXCLUDED.weather_site_key, EXCLUDED.weather_site_name)
