-- Row-level security at 1,000 tenants (issue 21): what one owner's query costs must not grow with the number
-- of other owners. Measured by `make bench` (section scale, docs/benchmarks.md).

-- ====================================================================================================
-- gold/security/tenant_indexes
-- ====================================================================================================
-- An owner's dashboards read their apartments' rows of a time range. The facts are keyed by time first
-- ((datetime_key, room_key) and the like: Gold's builds rewrite time windows), so without these indexes a
-- tenant's day is a scan of every apartment's rows of that day, filtered by the policy: 500 times the work
-- at 1,000 apartments than at two. With them the policy's apartment_id = ANY (...) and the time range are
-- one index range scan per apartment the role sees.
CREATE INDEX IF NOT EXISTS fact_energy_minute_tenant ON gold.fact_energy_minute (apartment_id, datetime_key);
CREATE INDEX IF NOT EXISTS fact_environment_minute_tenant ON gold.fact_environment_minute (apartment_id, datetime_key);
CREATE INDEX IF NOT EXISTS fact_presence_minute_tenant ON gold.fact_presence_minute (apartment_id, datetime_key);
CREATE INDEX IF NOT EXISTS fact_device_health_day_tenant ON gold.fact_device_health_day (apartment_id, date_key);

-- ====================================================================================================
-- gold/security/tenant_apartments
-- ====================================================================================================
-- The apartments a role sees: those mapped to the role or to any role it is a member of, directly or through
-- other roles (what pg_has_role(..., 'MEMBER') answers). The caller's roles are found once (a walk up
-- pg_auth_members from the caller: a handful of rows), then their mappings by the mapping's primary key,
-- instead of one pg_has_role call per mapping row (1,000 at 1,000 tenants, for every query of every owner).
-- plpgsql, not sql: a SECURITY DEFINER sql function is planned again at every call (1.2 ms of planning at
-- 1,000 roles, for each query of an owner), a plpgsql one keeps its plan for the session.
-- Superusers bypass row-level security and need no answer here.
CREATE OR REPLACE FUNCTION gold.tenant_apartments(who name)
RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seen text[];
BEGIN
    WITH RECURSIVE member_of(oid) AS (
        SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = who
        UNION
        SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN member_of ON m.member = member_of.oid
    )
    SELECT coalesce(array_agg(DISTINCT t.apartment_id), '{}'::text[]) INTO seen
    FROM gold.tenant_membership t
    WHERE t.role_name IN (SELECT pg_catalog.pg_get_userbyid(member_of.oid) FROM member_of);
    RETURN seen;
END
$$;

-- ====================================================================================================
-- gold/security/my_apartments
-- ====================================================================================================
-- What the tenant policies call: the apartments of the role running the query. It runs as the caller (not
-- SECURITY DEFINER), so current_user inside it is the caller, and hands that to gold.tenant_apartments. The
-- policies called gold.tenant_apartments(current_user) themselves before, and with current_user in the
-- policy's expression PostgreSQL 15 never used `apartment_id = ANY (...)` as an index condition: every owner
-- query scanned all apartments' rows of its time range and filtered them (185 times the two-tenant cost at
-- 1,000 tenants, docs/benchmarks.md). Without an argument the same InitPlan is an index condition.
-- plpgsql: never inlined into the policy, so its current_user stays inside.
CREATE OR REPLACE FUNCTION gold.my_apartments()
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN gold.tenant_apartments(current_user);
END
$$;

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT c.relname
        FROM pg_policy pol
        JOIN pg_class c ON c.oid = pol.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'gold' AND pol.polname = 'tenant_membership'
    LOOP
        -- in place: no moment without the policy
        EXECUTE format('ALTER POLICY tenant_membership ON gold.%I '
                       'USING (apartment_id = ANY ((SELECT gold.my_apartments())::text[]))', p.relname);
    END LOOP;
END
$$;

-- ====================================================================================================
-- gold/security/ensure_tenant_roles
-- ====================================================================================================
-- As in 0005, with one fix: the roles are made in a fixed order, group roles first. 0005's loop had no order,
-- so on a new cluster an owner's role could come before role_tenant existed and was then not made its member
-- (it saw nothing: no USAGE on gold) until the next migrate ran this again. Every migrate runs it
-- (gold_security.sql), so a warehouse migrated with the old one is repaired by the migrate that applies this.
CREATE OR REPLACE FUNCTION gold.ensure_tenant_roles()
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    wanted  record;
    created integer := 0;
BEGIN
    FOR wanted IN
        SELECT name, is_tenant FROM (VALUES ('role_tenant'::text, false), ('role_admin', false)) AS g(name, is_tenant)
        UNION
        SELECT DISTINCT role_name, true FROM gold.tenant_membership
        ORDER BY is_tenant, name  -- the group roles first: an owner's role is granted role_tenant as it is made
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', wanted.name);
                created := created + 1;
            EXCEPTION
                WHEN duplicate_object THEN NULL;  -- created concurrently
                WHEN insufficient_privilege THEN
                    RAISE WARNING 'tenants: cannot create role %; ask a DBA to run SELECT gold.ensure_tenant_roles()',
                        wanted.name;
                    CONTINUE;
            END;
        END IF;
        IF wanted.is_tenant AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'role_tenant')
           AND NOT pg_has_role(wanted.name, 'role_tenant', 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT role_tenant TO %I', wanted.name);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'tenants: cannot grant role_tenant to %; ask a DBA to run SELECT gold.ensure_tenant_roles()',
                    wanted.name;
            END;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- ====================================================================================================
-- warehouse/jit
-- ====================================================================================================
-- No JIT compilation in the warehouse's sessions. An owner's dashboard query reads a few thousand rows in
-- 1-3 ms, but the planner cannot know how many apartments gold.my_apartments() returns (it assumes 10 of
-- the column's distinct values), so at 1,000 tenants its estimate crossed jit_above_cost and each query
-- spent 8-10 ms compiling (measured: 31 ms instead of 13 for a tenant's day). Gold builds already run with
-- jit off (build/00_lock.sql). New sessions take it; without the right to ALTER DATABASE a warning asks a
-- DBA to run it.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'warehouse: cannot ALTER DATABASE % SET jit = off (owner or superuser only); ask a DBA to',
        current_database();
END
$$;
