-- A remote name that is not Pred_YYYY-MM-DD.csv: recorded (never downloaded) so it is reported once.
INSERT INTO silver.weather_file_manifest
    (source_name, checksum, remote_path, remote_size, remote_mtime, status, reason, is_current)
VALUES (%(source_name)s, '', %(remote_path)s, %(remote_size)s, %(remote_mtime)s, 'ignored',
        'name does not match Pred_YYYY-MM-DD.csv', true)
ON CONFLICT (source_name, checksum) DO UPDATE
SET remote_size = EXCLUDED.remote_size, remote_mtime = EXCLUDED.remote_mtime, remote_path = EXCLUDED.remote_path
