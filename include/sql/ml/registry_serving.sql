-- The bundle serving issue day D: the latest promoted bundle trained on data up to D at the latest (a backfill
-- of an old day never uses a model that saw later data).
SELECT model_version, train_end, artifact_path, artifact_sha256, metrics, trigger
FROM ml.model_registry
WHERE status = 'promoted' AND train_end <= %(issue_date)s
ORDER BY train_end DESC, trained_at DESC
LIMIT 1
