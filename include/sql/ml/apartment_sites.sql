-- Apartments whose weather site is not the default one: the site of their row in gold.dim_apartment (from
-- silver.apartment_registry.weather_site, when it is a configured site).
SELECT apartment_id, weather_site_name
FROM gold.dim_apartment
WHERE weather_site_name IS NOT NULL AND weather_site_name <> %(site)s
ORDER BY apartment_id
