"""Reference data: the weekly, allow-listed, atomic snapshot of the MySQL "pidb" database into Silver.

Owns: what may be read from pidb and how it is typed and swapped in (``snapshot``), and the task body of
``mysql_snapshot_weekly`` (``tasks``). See docs/mysql-snapshot.md.
"""
