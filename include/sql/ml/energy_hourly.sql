-- Hourly kWh of each apartment's whole-house meter (never the plugs: the meter already contains them), from
-- gold.fact_energy_minute. Minutes missing from an hour (a file never delivered) are made up by the hour's mean
-- power: kwh = mean per-minute kWh x 60; an hour with fewer than min_minutes valid minutes is left out.
SELECT apartment_id,
       datetime_key / 100 AS hour_key,                    -- YYYYMMDDHH (UTC)
       avg(energy_kwh) * 60 AS kwh
FROM gold.fact_energy_minute
WHERE meter_role = 'house_meter'
  AND is_valid
  AND energy_kwh IS NOT NULL
  AND datetime_key >= %(start_key)s AND datetime_key < %(end_key)s
GROUP BY apartment_id, datetime_key / 100
HAVING count(*) >= %(min_minutes)s
