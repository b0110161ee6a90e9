-- silver.weather_clean: the most recent forecast per forecast hour and site, wide (the original's v1 table).
-- Grain: (timestamp, site). Source: silver.weather_forecasts. For each key the rows of the latest
-- prediction_date count; per measurement the lowest prediction code that has a value is taken (see
-- docs/weather.md for why). is_outlier is true when any of the chosen values is flagged. prediction_date says
-- which issue the row comes from; an older issue loaded later (backfill) never replaces a newer one.
CREATE TABLE IF NOT EXISTS silver.weather_clean (
    timestamp         timestamptz      NOT NULL,
    site              text             NOT NULL,
    temperature_c     double precision,
    humidity_pct      double precision,
    precipitation_mm  double precision,
    radiation_wm2     double precision,
    is_outlier        boolean          NOT NULL DEFAULT false,
    prediction_date   date             NOT NULL,
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT weather_clean_pkey PRIMARY KEY (timestamp, site)
);
CREATE INDEX IF NOT EXISTS weather_clean_prediction_date ON silver.weather_clean (prediction_date);
