-- gold.dim_date: the calendar dates touched by this build (gold_day), upserted.
-- Grain: date. Key: date_key = YYYYMMDD. Source: the windows (not the data: every covered day is complete).
-- is_holiday / holiday_name: Valais public holidays from the Python `holidays` library, bound as parameters
-- by the planner (holiday_dates, holiday_names). Unchanged rows are not rewritten.
WITH holiday AS (
    SELECT DISTINCT ON (h.day) h.day, h.name
    FROM unnest(%(holiday_dates)s::date[], %(holiday_names)s::text[]) AS h(day, name)
    ORDER BY h.day, h.name
),
src AS (
    SELECT g.date_key,
           g.day                                                AS date,
           to_char(g.day::timestamp, 'FMDay')                   AS day_of_week,
           extract(isodow FROM g.day)::smallint                 AS iso_day_of_week,
           extract(week FROM g.day)::smallint                   AS week,
           extract(isoyear FROM g.day)::smallint                AS iso_year,
           extract(month FROM g.day)::smallint                  AS month,
           extract(quarter FROM g.day)::smallint                AS quarter,
           extract(year FROM g.day)::smallint                   AS year,
           extract(isodow FROM g.day) IN (6, 7)                 AS is_weekend,
           h.day IS NOT NULL                                    AS is_holiday,
           h.name                                               AS holiday_name
    FROM gold_day g
    LEFT JOIN holiday h ON h.day = g.day
)
INSERT INTO gold.dim_date AS t
    (date_key, date, day_of_week, iso_day_of_week, week, iso_year, month, quarter, year, is_weekend,
     is_holiday, holiday_name)
SELECT date_key, date, day_of_week, iso_day_of_week, week, iso_year, month, quarter, year, is_weekend,
       is_holiday, holiday_name
FROM src
ON CONFLICT (date_key) DO UPDATE
SET date = EXCLUDED.date, day_of_week = EXCLUDED.day_of_week, iso_day_of_week = EXCLUDED.iso_day_of_week,
    week = EXCLUDED.week, iso_year = EXCLUDED.iso_year, month = EXCLUDED.month, quarter = EXCLUDED.quarter,
    year = EXCLUDED.year, is_weekend = EXCLUDED.is_weekend, is_holiday = EXCLUDED.is_holiday,
    holiday_name = EXCLUDED.holiday_name
WHERE (t.date, t.day_of_week, t.iso_day_of_week, t.week, t.iso_year, t.month, t.quarter, t.year, t.is_weekend,
       t.is_holiday, t.holiday_name)
      IS DISTINCT FROM
      (EXCLUDED.date, EXCLUDED.day_of_week, EXCLUDED.iso_day_of_week, EXCLUDED.week, EXCLUDED.iso_year,
       EXCLUDED.month, EXCLUDED.quarter, EXCLUDED.year, EXCLUDED.is_weekend, EXCLUDED.is_holiday,
       EXCLUDED.holiday_name)
