-- Schema of the business-ready star schema, and the helpers every Gold template shares.
-- Run by gold_build's create_gold_tables task before each build; every statement is idempotent.
-- Every DDL run (each DAG's create_*_tables task, tests, tools) takes this lock first, for the rest of its
-- transaction: concurrent CREATE ... IF NOT EXISTS of one object can otherwise fail on a fresh database
-- (e.g. backfill runs of several DAGs starting together).
SELECT pg_advisory_xact_lock(hashtext('domotic_ddl'));
CREATE SCHEMA IF NOT EXISTS gold;

-- Surrogate keys are derived from natural keys, never from a sequence: the same natural key gives the same
-- key on every run and every reinstall, so facts never need renumbering. 63 bits of md5 (non-negative
-- bigint); with a few thousand keys a collision has a probability below 1e-12 (primary keys would refuse it).
CREATE OR REPLACE FUNCTION gold.stable_key(natural_key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ('x' || substr(md5(natural_key), 1, 16))::bit(64)::bigint & 9223372036854775807;

-- The natural id of a device: <apartment>_<room>_<sensor_type>, as the original named it, with _<index>
-- appended for the second, third... contact of the same type in one room (index 0 keeps the original id).
CREATE OR REPLACE FUNCTION gold.device_id(apartment text, room text, sensor_type text, sensor_index integer)
    RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN apartment || '_' || room || '_' || sensor_type
           || CASE WHEN sensor_index > 0 THEN '_' || sensor_index::text ELSE '' END;
