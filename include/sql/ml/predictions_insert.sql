INSERT INTO gold.fact_ml_predictions
    (model_version, issue_date, target, apartment_key, apartment_id, room_key, target_datetime_key, target_date_key,
     target_hour_start, issued_at, horizon_hours, value_kwh, probability, baseline_value, weather_used,
     fallback_reason, run_id)
VALUES (%(model_version)s, %(issue_date)s, %(target)s, %(apartment_key)s, %(apartment_id)s, %(room_key)s,
        %(target_datetime_key)s, %(target_date_key)s, %(target_hour_start)s, %(issued_at)s, %(horizon_hours)s,
        %(value_kwh)s, %(probability)s, %(baseline_value)s, %(weather_used)s, %(fallback_reason)s, %(run_id)s)
