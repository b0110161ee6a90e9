-- gold.dim_datetime: every minute of every covered UTC day (1,440 rows a day, observed or not).
-- Grain: minute. Key: datetime_key = YYYYMMDDHHMI of the minute in UTC, computed with an explicit
-- AT TIME ZONE 'UTC' (never the session time zone). The unprefixed attributes are UTC (as date_key);
-- the local_* attributes are Europe/Zurich wall-clock time, for BI. On the autumn DST change the local
-- hour 02:00-02:59 appears twice (is_dst tells them apart); in spring 02:00-02:59 local does not exist.
-- is_holiday: the minute's *local* date is a Valais public holiday (holidays are a local notion).
CREATE TABLE IF NOT EXISTS gold.dim_datetime (
    datetime_key       bigint      PRIMARY KEY,
    timestamp_utc      timestamptz NOT NULL UNIQUE,
    date_key           integer     NOT NULL,  -- UTC date, YYYYMMDD
    hour               smallint    NOT NULL,  -- UTC
    minute             smallint    NOT NULL,
    day_of_week        text        NOT NULL,  -- English name of the UTC date
    week               smallint    NOT NULL,  -- ISO week of the UTC date
    month              smallint    NOT NULL,
    year               smallint    NOT NULL,
    is_weekend         boolean     NOT NULL,
    is_holiday         boolean     NOT NULL DEFAULT false,
    local_timestamp    timestamp   NOT NULL,  -- Europe/Zurich wall clock
    local_date         date        NOT NULL,
    local_date_key     integer     NOT NULL,  -- YYYYMMDD of local_date
    local_hour         smallint    NOT NULL,
    local_minute       smallint    NOT NULL,
    local_day_of_week  text        NOT NULL,
    local_iso_week     smallint    NOT NULL,
    local_iso_year     smallint    NOT NULL,
    local_is_weekend   boolean     NOT NULL,
    utc_offset_minutes smallint    NOT NULL,  -- +60 (CET) or +120 (CEST)
    is_dst             boolean     NOT NULL
);
CREATE INDEX IF NOT EXISTS dim_datetime_date_key ON gold.dim_datetime (date_key);
CREATE INDEX IF NOT EXISTS dim_datetime_local_date ON gold.dim_datetime (local_date);
