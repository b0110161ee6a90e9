-- gold.dim_datetime: all 1,440 minutes of every UTC day touched by this build (gold_day), upserted.
-- Grain: minute. Key: datetime_key = YYYYMMDDHHMI of the minute in UTC (AT TIME ZONE 'UTC', explicit).
-- UTC attributes beside local (Europe/Zurich, parameter local_tz) ones; is_dst = the local offset is larger
-- than the zone's standard (smaller of 1 January's and 1 July's) offset that year. is_holiday: the local date
-- is a Valais public holiday (planner parameters). Unchanged rows are not rewritten.
WITH holiday AS (
    SELECT DISTINCT h.day
    FROM unnest(%(holiday_dates)s::date[]) AS h(day)
),
minute AS (
    SELECT m.ts,
           m.ts AT TIME ZONE 'UTC'       AS utc,
           m.ts AT TIME ZONE %(local_tz)s AS loc
    FROM gold_day g
    CROSS JOIN LATERAL generate_series(g.day_start, g.day_end - interval '1 minute', interval '1 minute') AS m(ts)
),
offsets AS (
    SELECT ts, utc, loc,
           (extract(epoch FROM loc - utc) / 60)::smallint AS utc_offset_minutes,
           (least(
               extract(epoch FROM (make_date(extract(year FROM utc)::int, 1, 1)::timestamp AT TIME ZONE 'UTC')
                                   AT TIME ZONE %(local_tz)s - make_date(extract(year FROM utc)::int, 1, 1)::timestamp),
               extract(epoch FROM (make_date(extract(year FROM utc)::int, 7, 1)::timestamp AT TIME ZONE 'UTC')
                                   AT TIME ZONE %(local_tz)s - make_date(extract(year FROM utc)::int, 7, 1)::timestamp)
           ) / 60)::smallint AS standard_offset_minutes
    FROM minute
),
src AS (
    SELECT to_char(utc, 'YYYYMMDDHH24MI')::bigint   AS datetime_key,
           ts                                       AS timestamp_utc,
           to_char(utc, 'YYYYMMDD')::integer        AS date_key,
           extract(hour FROM utc)::smallint         AS hour,
           extract(minute FROM utc)::smallint       AS minute,
           to_char(utc, 'FMDay')                    AS day_of_week,
           extract(week FROM utc)::smallint         AS week,
           extract(month FROM utc)::smallint        AS month,
           extract(year FROM utc)::smallint         AS year,
           extract(isodow FROM utc) IN (6, 7)       AS is_weekend,
           EXISTS (SELECT 1 FROM holiday h WHERE h.day = loc::date) AS is_holiday,
           loc                                      AS local_timestamp,
           loc::date                                AS local_date,
           to_char(loc, 'YYYYMMDD')::integer        AS local_date_key,
           extract(hour FROM loc)::smallint         AS local_hour,
           extract(minute FROM loc)::smallint       AS local_minute,
           to_char(loc, 'FMDay')                    AS local_day_of_week,
           extract(week FROM loc)::smallint         AS local_iso_week,
           extract(isoyear FROM loc)::smallint      AS local_iso_year,
           extract(isodow FROM loc) IN (6, 7)       AS local_is_weekend,
           utc_offset_minutes,
           utc_offset_minutes > standard_offset_minutes AS is_dst
    FROM offsets
)
INSERT INTO gold.dim_datetime AS t
    (datetime_key, timestamp_utc, date_key, hour, minute, day_of_week, week, month, year, is_weekend,
     is_holiday, local_timestamp, local_date, local_date_key, local_hour, local_minute, local_day_of_week,
     local_iso_week, local_iso_year, local_is_weekend, utc_offset_minutes, is_dst)
SELECT datetime_key, timestamp_utc, date_key, hour, minute, day_of_week, week, month, year, is_weekend,
       is_holiday, local_timestamp, local_date, local_date_key, local_hour, local_minute, local_day_of_week,
       local_iso_week, local_iso_year, local_is_weekend, utc_offset_minutes, is_dst
FROM src
ON CONFLICT (datetime_key) DO UPDATE
SET timestamp_utc = EXCLUDED.timestamp_utc, date_key = EXCLUDED.date_key, hour = EXCLUDED.hour,
    minute = EXCLUDED.minute, day_of_week = EXCLUDED.day_of_week, week = EXCLUDED.week, month = EXCLUDED.month,
    year = EXCLUDED.year, is_weekend = EXCLUDED.is_weekend, is_holiday = EXCLUDED.is_holiday,
    local_timestamp = EXCLUDED.local_timestamp, local_date = EXCLUDED.local_date,
    local_date_key = EXCLUDED.local_date_key, local_hour = EXCLUDED.local_hour,
    local_minute = EXCLUDED.local_minute, local_day_of_week = EXCLUDED.local_day_of_week,
    local_iso_week = EXCLUDED.local_iso_week, local_iso_year = EXCLUDED.local_iso_year,
    local_is_weekend = EXCLUDED.local_is_weekend, utc_offset_minutes = EXCLUDED.utc_offset_minutes,
    is_dst = EXCLUDED.is_dst
WHERE (t.is_holiday, t.local_timestamp, t.utc_offset_minutes, t.is_dst)
      IS DISTINCT FROM (EXCLUDED.is_holiday, EXCLUDED.local_timestamp, EXCLUDED.utc_offset_minutes,
                        EXCLUDED.is_dst)
