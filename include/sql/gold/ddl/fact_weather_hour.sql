-- Weather facts, per configured site and forecast hour (UTC), from silver.weather_forecasts.
-- gold.fact_weather_hour: the LATEST forecast of each hour (the most recent issue date that covers it).
-- gold.fact_weather_hour_revision: EVERY forecast of each hour, one row per issue date (prediction_date),
-- with its lead time, for forecast-accuracy analysis; is_latest marks the row fact_weather_hour holds.
-- Per measurement the value is that of the lowest prediction code with a value (as silver.weather_clean),
-- averaged over the forecast timestamps inside the hour. Definitions in docs/gold.md.
CREATE TABLE IF NOT EXISTS gold.fact_weather_hour (
    datetime_key     bigint           NOT NULL,  -- the hour's first minute
    site_key         bigint           NOT NULL,
    date_key         integer          NOT NULL,
    prediction_date  date             NOT NULL,  -- issue date of the forecast shown
    temperature_c    double precision,
    humidity_pct     double precision,
    precipitation_mm double precision,
    radiation_wm2    double precision,
    n_model_runs     integer          NOT NULL,  -- distinct prediction codes in that issue for the hour
    is_outlier       boolean          NOT NULL DEFAULT false,
    CONSTRAINT fact_weather_hour_pkey PRIMARY KEY (datetime_key, site_key)
);
CREATE TABLE IF NOT EXISTS gold.fact_weather_hour_revision (
    datetime_key     bigint           NOT NULL,
    site_key         bigint           NOT NULL,
    prediction_date  date             NOT NULL,
    date_key         integer          NOT NULL,
    lead_hours       integer          NOT NULL,  -- hours from the issue date's 00:00 UTC to the hour
    temperature_c    double precision,
    humidity_pct     double precision,
    precipitation_mm double precision,
    radiation_wm2    double precision,
    n_model_runs     integer          NOT NULL,
    is_outlier       boolean          NOT NULL DEFAULT false,
    is_latest        boolean          NOT NULL,
    CONSTRAINT fact_weather_hour_revision_pkey PRIMARY KEY (datetime_key, site_key, prediction_date)
);
