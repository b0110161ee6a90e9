-- silver.weather_forecasts: every forecast revision, long format, one row per kept CSV value.
-- Grain: (prediction_date, site, measurement, prediction, timestamp) - the issue's unique key, as primary key so
-- no column of it can be NULL (a NULL site or prediction defeated the original's key). Source: the cleaned
-- Pred_YYYY-MM-DD.csv files; prediction_date is the issue date from the file name. Loading an issue date
-- replaces all of its rows, so a corrected re-delivery leaves exactly its own rows.
-- value is NULL where the source sent the sentinel -99999.0 (missing); is_outlier flags values outside the
-- measurement's plausible range (T -50..60, RH 0..100, precipitation 0..500, radiation 0..1500; inclusive).
CREATE TABLE IF NOT EXISTS silver.weather_forecasts (
    prediction_date  date             NOT NULL,
    site             text             NOT NULL,
    measurement      text             NOT NULL,  -- source code, e.g. PRED_T_2M_ctrl
    prediction       smallint         NOT NULL,  -- the file's Prediction code ("00" -> 0)
    timestamp        timestamptz      NOT NULL,  -- forecast time, UTC
    value            double precision,
    unit             text             NOT NULL,
    is_outlier       boolean          NOT NULL DEFAULT false,
    CONSTRAINT weather_forecasts_pkey PRIMARY KEY (prediction_date, site, measurement, prediction, timestamp)
);
-- Gold reads forecast windows by time, and weather_clean repairs look up (timestamp, site).
CREATE INDEX IF NOT EXISTS weather_forecasts_timestamp_site ON silver.weather_forecasts (timestamp, site);
