-- silver.weather_forecasts: every forecast revision, long format, one row per kept CSV value.
-- Grain: (prediction_date, timestamp, site, measurement, prediction) - the issue's unique key, as primary key so
-- no column of it can be NULL (a NULL site or prediction defeated the original's key). The fixed-width columns
-- lead so that most key comparisons during a load never reach the text columns. Source: the cleaned
-- Pred_YYYY-MM-DD.csv files; prediction_date is the issue date from the file name. Loading an issue date
-- replaces all of its rows, so a corrected re-delivery leaves exactly its own rows.
-- value is NULL where the source sent the sentinel -99999.0 (missing); is_outlier flags values outside the
-- measurement's plausible range (T -50..60, RH 0..100, precipitation 0..500, radiation 0..1500; inclusive).
CREATE TABLE IF NOT EXISTS silver.weather_forecasts (
    prediction_date  date             NOT NULL,
    timestamp        timestamptz      NOT NULL,  -- forecast time, UTC
    site             text             NOT NULL,
    measurement      text             NOT NULL,  -- source code, e.g. PRED_T_2M_ctrl
    prediction       smallint         NOT NULL,  -- the file's Prediction code ("00" -> 0)
    value            double precision,
    unit             text             NOT NULL,
    is_outlier       boolean          NOT NULL DEFAULT false,
    CONSTRAINT weather_forecasts_pkey PRIMARY KEY (prediction_date, timestamp, site, measurement, prediction)
);
-- Gold reads forecast windows by time. Rows arrive issue date by issue date and a file covers only the days
-- after its issue date, so physical order follows time closely: a BRIN index serves time ranges at a fraction
-- of a B-tree's cost per insert (a B-tree here doubled the load time).
CREATE INDEX IF NOT EXISTS weather_forecasts_timestamp_brin ON silver.weather_forecasts USING brin (timestamp);
