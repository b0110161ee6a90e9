-- Schema of the cleaned, full-resolution layer.
-- Every DDL run (each DAG's create_*_tables task, tests, tools) takes this lock first, for the rest of its
-- transaction: concurrent CREATE ... IF NOT EXISTS of one object can otherwise fail on a fresh database
-- (e.g. backfill runs of several DAGs starting together).
SELECT pg_advisory_xact_lock(hashtext('domotic_ddl'));
CREATE SCHEMA IF NOT EXISTS silver;
