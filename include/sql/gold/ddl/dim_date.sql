-- gold.dim_date: one row per calendar date that any build covered (a UTC day of a window).
-- Grain: date. Key: date_key = YYYYMMDD of the date. A date is a date: the attributes below are those of the
-- calendar date itself (the UTC day of date_key), and is_holiday says whether that date is a public holiday
-- in the canton of Valais (Python `holidays`, country CH, subdivision VS; computed by gold_build's planner).
CREATE TABLE IF NOT EXISTS gold.dim_date (
    date_key        integer  PRIMARY KEY,
    date            date     NOT NULL UNIQUE,
    day_of_week     text     NOT NULL,   -- English name, Monday..Sunday
    iso_day_of_week smallint NOT NULL,   -- 1 = Monday .. 7 = Sunday
    week            smallint NOT NULL,   -- ISO week
    iso_year        smallint NOT NULL,   -- year the ISO week belongs to
    month           smallint NOT NULL,
    quarter         smallint NOT NULL,
    year            smallint NOT NULL,
    is_weekend      boolean  NOT NULL,   -- ISO day 6 or 7
    is_holiday      boolean  NOT NULL DEFAULT false,
    holiday_name    text                 -- English name from the holidays library, NULL on other days
);
