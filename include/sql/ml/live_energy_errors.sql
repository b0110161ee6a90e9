-- The serving bundle's live energy error: its issued next-day forecasts (horizon <= 24) of the given issue days
-- against the actual hourly kWh Gold holds now, per apartment (hours without actual data are left out).
WITH actual AS (
    SELECT apartment_id, datetime_key / 100 * 100 AS hour_key, avg(energy_kwh) * 60 AS kwh
    FROM gold.fact_energy_minute
    WHERE meter_role = 'house_meter' AND is_valid AND energy_kwh IS NOT NULL
      AND datetime_key >= %(start_key)s AND datetime_key < %(end_key)s
    GROUP BY apartment_id, datetime_key / 100
    HAVING count(*) >= 30
)
SELECT p.apartment_id, avg(abs(p.value_kwh - a.kwh)) AS mae, count(*) AS n
FROM gold.fact_ml_predictions p
JOIN actual a ON a.apartment_id = p.apartment_id AND a.hour_key = p.target_datetime_key
WHERE p.target = 'energy_kwh' AND p.model_version = %(model_version)s AND p.horizon_hours <= 24
  AND p.issue_date >= %(first_issue)s AND p.issue_date <= %(last_issue)s
GROUP BY p.apartment_id
