-- Session staging tables for loading one forecast file per transaction (emptied at every commit).
-- weather_stage: the file's kept rows, binary COPY; labels are indexes into arrays passed to the insert.
CREATE TEMP TABLE IF NOT EXISTS weather_stage (
    timestamp       timestamptz      NOT NULL,
    site_id         smallint         NOT NULL,
    prediction      smallint         NOT NULL,
    measurement_id  smallint         NOT NULL,
    unit_id         smallint         NOT NULL,
    value           double precision,
    is_outlier      boolean          NOT NULL
) ON COMMIT DELETE ROWS;
-- weather_clean_stage: the wide rows the file yields (latest issue, lowest code with a value).
CREATE TEMP TABLE IF NOT EXISTS weather_clean_stage (
    timestamp         timestamptz      NOT NULL,
    site              text             NOT NULL,
    temperature_c     double precision,
    humidity_pct      double precision,
    precipitation_mm  double precision,
    radiation_wm2     double precision,
    is_outlier        boolean          NOT NULL,
    prediction_date   date             NOT NULL
) ON COMMIT DELETE ROWS;
