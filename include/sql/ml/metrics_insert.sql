INSERT INTO ml.metrics (run_id, scope, model_version, apartment_id, target, metric, predictor, value, n, first_day,
                        last_day)
VALUES (%(run_id)s, %(scope)s, %(model_version)s, %(apartment_id)s, %(target)s, %(metric)s, %(predictor)s,
        %(value)s, %(n)s, %(first_day)s, %(last_day)s)
ON CONFLICT ON CONSTRAINT metrics_pkey DO UPDATE
SET value = EXCLUDED.value, n = EXCLUDED.n, first_day = EXCLUDED.first_day, last_day = EXCLUDED.last_day,
    recorded_at = now()
