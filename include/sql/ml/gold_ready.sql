-- Is Gold complete for UTC day D? Its last hour has house-meter rows and no pending Silver change touches the
-- day or an earlier one (Gold's work ledger, docs/gold.md).
SELECT (SELECT count(*) FROM gold.fact_energy_minute
        WHERE meter_role = 'house_meter' AND datetime_key >= %(last_hour_key)s AND datetime_key < %(end_key)s)
           AS last_hour_rows,
       (SELECT count(*) FROM silver.gold_ledger
        WHERE scope = 'sensor' AND window_start < %(day_end)s) AS pending_changes
