-- Same content under a new size/mtime listing (e.g. touched on the server): remember the new attributes so the
-- next listing skips it without downloading.
UPDATE silver.weather_file_manifest
SET remote_size = %(remote_size)s, remote_mtime = %(remote_mtime)s, remote_path = %(remote_path)s
WHERE source_name = %(source_name)s AND is_current
