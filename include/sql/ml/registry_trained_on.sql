-- A bundle already trained on exactly this window (a re-run reuses it instead of training again).
SELECT model_version, status FROM ml.model_registry WHERE train_end = %(train_end)s ORDER BY trained_at DESC LIMIT 1
