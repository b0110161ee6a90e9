-- gold.dim_weather_site: the MeteoSwiss stations Gold reports (Variable weather_sites, default "Sion").
-- Grain: site. Key: site_key = stable_key('site|' || site_name). A site removed from the setting stays (its
-- facts keep their key) with is_configured = false; its forecasts are no longer refreshed.
CREATE TABLE IF NOT EXISTS gold.dim_weather_site (
    site_key      bigint  PRIMARY KEY,
    site_name     text    NOT NULL UNIQUE,
    is_configured boolean NOT NULL DEFAULT true
);
