-- gold.dim_weather_site: the configured weather sites (parameter weather_sites, Variable weather_sites).
-- Grain: site. Key: site_key = stable_key('site|' || site_name). A site no longer configured keeps its row
-- (is_configured = false) so the facts that reference it stay joinable.
WITH configured AS (
    SELECT DISTINCT trim(s) AS site_name
    FROM unnest(%(weather_sites)s::text[]) AS s
    WHERE trim(s) <> ''
),
upserted AS (
    INSERT INTO gold.dim_weather_site AS t (site_key, site_name, is_configured)
    SELECT gold.stable_key('site|' || site_name), site_name, true
    FROM configured
    ON CONFLICT (site_key) DO UPDATE SET is_configured = true
    WHERE NOT t.is_configured
)
UPDATE gold.dim_weather_site t
SET is_configured = false
WHERE t.is_configured
  AND NOT EXISTS (SELECT 1 FROM configured c WHERE c.site_name = t.site_name)
