-- Apartments are data, not code (issue 21): the apartment registry, and row-level security keyed on a
-- membership mapping (one tenant policy per Gold table, whatever the number of apartments).

-- ====================================================================================================
-- silver/apartment_registry
-- ====================================================================================================
-- silver.apartment_registry: every apartment the pipeline knows, one row each, and the only place that
-- knows them. File-name parsing maps owner_handle (case-insensitive) to apartment_id; sensors_minutely
-- predicts the files of the apartments active on its minute; Gold's dim_apartment takes the weather site.
-- Written by the weekly pidb snapshot (a building whose houseName carries a new handle is registered;
-- docs/runbook.md, "Onboard and offboard an apartment"), by the versioned seed include/sql/seeds/apartments.sql
-- (what pidb lacks), and by `python -m domotic.warehouse.tenants onboard|offboard`. Rows are never deleted:
-- offboarding sets active_to, and the apartment's history stays queryable.
CREATE TABLE IF NOT EXISTS silver.apartment_registry (
    apartment_id text    NOT NULL,
    owner_handle text    NOT NULL,                 -- as written in sensor file names (pidb buildings.houseName)
    building_id  integer,                          -- pidb buildings.idBuilding, when pidb has the apartment
    weather_site text,                             -- NULL: the first configured weather site
    source_tz    text,                             -- NULL: the deployment's clock (Variable domotic_source_tz)
    active_from  date    NOT NULL,                 -- first UTC day of the apartment's files
    active_to    date,                             -- last UTC day (offboarded); NULL: active
    origin       text    NOT NULL DEFAULT 'operator' CHECK (origin IN ('seed', 'pidb', 'operator')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT apartment_registry_pkey PRIMARY KEY (apartment_id),
    -- the tenant key: lower case ASCII, also a role name suffix (role_<apartment_id>)
    CONSTRAINT apartment_id_format CHECK (apartment_id ~ '^[a-z][a-z0-9_]{0,39}$'),
    -- what the file-name pattern DD.MM.YYYY HHMM_<handle>_received.json can carry
    CONSTRAINT owner_handle_format CHECK (owner_handle ~ '^[A-Za-z0-9.-]{1,64}$'),
    CONSTRAINT active_window CHECK (active_to IS NULL OR active_to >= active_from),
    CONSTRAINT apartment_registry_building UNIQUE (building_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS apartment_registry_handle ON silver.apartment_registry (lower(owner_handle));

-- ====================================================================================================
-- gold/security/tenant_membership
-- ====================================================================================================
-- gold.tenant_membership: which database role sees which apartment (a role may see several, an apartment
-- may be seen by several roles). Replaces gold.tenant_role and its policy per role: every Gold table with
-- apartment data has ONE tenant policy, TO role_tenant, keyed on this mapping through
-- gold.tenant_apartments(current_user). Onboarding adds (role_<apartment_id>, apartment_id); offboarding
-- deletes the apartment's rows. Never granted to BI roles (read through the SECURITY DEFINER function).
CREATE TABLE IF NOT EXISTS gold.tenant_membership (
    role_name    text NOT NULL,
    apartment_id text NOT NULL,
    CONSTRAINT tenant_membership_pkey PRIMARY KEY (role_name, apartment_id)
);
CREATE INDEX IF NOT EXISTS tenant_membership_apartment ON gold.tenant_membership (apartment_id);

DO $$
BEGIN
    IF to_regclass('gold.tenant_role') IS NOT NULL THEN
        INSERT INTO gold.tenant_membership (role_name, apartment_id)
        SELECT role_name, apartment_id FROM gold.tenant_role
        ON CONFLICT DO NOTHING;
    END IF;
END
$$;

-- The apartments a role sees: those mapped to any role it is a member of (itself included). SECURITY DEFINER
-- so that BI roles need no right on the mapping; the policies pass current_user (a caller cannot choose it
-- there). Called as a scalar subquery in the policies: evaluated once per query, not per row.
CREATE OR REPLACE FUNCTION gold.tenant_apartments(who name)
RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(DISTINCT m.apartment_id), '{}'::text[])
    FROM gold.tenant_membership m
    JOIN pg_catalog.pg_roles r ON r.rolname = m.role_name
    WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles u WHERE u.rolname = who)
      AND pg_catalog.pg_has_role(who, r.oid, 'MEMBER')
$$;

-- Creates what the membership mapping names and is missing: the group roles role_tenant (the Gold grants of
-- every owner) and role_admin, and each mapped role as a NOLOGIN member of role_tenant. Needs CREATEROLE for
-- missing roles; without it a warning names the role (a DBA runs `SELECT gold.ensure_tenant_roles()` as
-- superuser). Called by gold_security.sql at every migrate, by onboarding and by the pidb snapshot.
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

-- The policies per apartment role of gold_security.sql before this migration give way to one tenant policy
-- per table (created by the repeatable gold_security.sql right after the numbered migrations); the owner
-- roles' direct grants go too (they read through role_tenant). Same transaction: no moment without a policy
-- for a role that keeps its rights.
DO $$
DECLARE
    p record;
    r record;
BEGIN
    FOR p IN
        SELECT pol.polname, c.relname
        FROM pg_policy pol
        JOIN pg_class c ON c.oid = pol.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'gold' AND pol.polname LIKE 'tenant\_role\_%'
    LOOP
        EXECUTE format('DROP POLICY %I ON gold.%I', p.polname, p.relname);
    END LOOP;
    IF to_regclass('gold.tenant_role') IS NOT NULL THEN
        -- only where the role is a grantee: a REVOKE elsewhere would turn default ACLs into explicit ones
        FOR r IN SELECT DISTINCT t.role_name, c.relname
                 FROM gold.tenant_role t
                 JOIN pg_roles x ON x.rolname = t.role_name
                 JOIN pg_class c ON c.relnamespace = 'gold'::regnamespace AND c.relacl IS NOT NULL
                 CROSS JOIN LATERAL aclexplode(c.relacl) a
                 WHERE a.grantee = x.oid LOOP
            EXECUTE format('REVOKE ALL ON gold.%I FROM %I', r.relname, r.role_name);
        END LOOP;
        DROP TABLE gold.tenant_role;
    END IF;
END
$$;
