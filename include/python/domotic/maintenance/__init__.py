"""Maintenance of Bronze and the warehouse: one module per job, the task bodies in ``tasks``.

Owns: packing old Bronze sensor days into day archives (``compaction``) in the archive format that replay also
reads (``archive``), gzipping old weather files (``weather_files``), the list of big tables VACUUM ANALYZE keeps
healthy (``vacuum``), ``pg_dump`` backups and their retention (``backup``), the disk-usage report and the
free-space check (``disk``), the write-temporary-then-rename pattern all of them share (``atomic``) and the task
bodies of the ``maintenance_*`` DAGs (``tasks``: the only module here that reads settings or opens
connections). Replaying an archived day belongs to sensor ingestion: ``domotic.sensors.replay``.
See docs/maintenance.md.
"""
