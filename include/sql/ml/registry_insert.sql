INSERT INTO ml.model_registry
    (model_version, trained_at, train_start, train_end, trigger, features, params, library_versions, metrics, gate,
     status, artifact_path, artifact_sha256, run_id)
VALUES (%(model_version)s, %(trained_at)s, %(train_start)s, %(train_end)s, %(trigger)s, %(features)s, %(params)s,
        %(library_versions)s, %(metrics)s, %(gate)s, %(status)s, %(artifact_path)s, %(artifact_sha256)s, %(run_id)s)
ON CONFLICT (model_version) DO NOTHING
