-- Row-level security of the Gold layer: a repeatable script, re-run by every migrate after the numbered
-- migrations (idempotent: it only creates what is missing, so Gold tables added later get their policies).
--
-- Roles (NOLOGIN group roles; BI logins are members, see docs/gold.md):
--   role_<tenant> (gold.tenant_role: role_jimmy -> jimmy, role_jeremie -> jeremie): SELECT on Gold, and on
--                 every table with an apartment_id column only the rows of its apartment;
--   role_admin:   SELECT on Gold, every row.
-- Every Gold table with an apartment_id column (dims and facts alike) gets RLS enabled and one policy per
-- tenant role plus one for role_admin, matching the natural key apartment_id (never a surrogate number).
-- Tables without apartment_id hold no apartment data (calendar, tariff, weather sites and forecasts) and
-- are readable by all three roles. gold.build_window and gold.tenant_role are not granted.
-- The pipeline's own role owns the tables and is not subject to RLS (it writes every apartment).
-- Roles are created when the connected role may (CREATEROLE); otherwise a DBA runs this once as superuser.
-- Policies are only created when missing, so a routine run takes no lock a BI query would wait on.
DO $$
DECLARE
    t      record;
    tenant record;
    policy text;
BEGIN
    FOR tenant IN SELECT role_name FROM gold.tenant_role UNION ALL SELECT 'role_admin' LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = tenant.role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', tenant.role_name);
            EXCEPTION
                WHEN duplicate_object THEN NULL;           -- created concurrently
                WHEN insufficient_privilege THEN
                    RAISE WARNING 'gold RLS: cannot create role %; ask a DBA to run include/sql/migrations/repeatable/gold_security.sql',
                        tenant.role_name;
            END;
        END IF;
    END LOOP;

    FOR tenant IN SELECT r.rolname FROM pg_roles r
                  WHERE r.rolname IN (SELECT role_name FROM gold.tenant_role UNION ALL SELECT 'role_admin') LOOP
        IF NOT has_schema_privilege(tenant.rolname, 'gold', 'USAGE') THEN
            EXECUTE format('GRANT USAGE ON SCHEMA gold TO %I', tenant.rolname);
        END IF;
    END LOOP;

    FOR t IN
        SELECT c.oid, c.relname, c.relrowsecurity,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'apartment_id' AND NOT a.attisdropped) AS tenant_data
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'gold' AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('build_window', 'tenant_role')
    LOOP
        IF t.tenant_data THEN
            -- RLS first, grants after: tenant rows are never readable without their policy.
            IF NOT t.relrowsecurity THEN
                EXECUTE format('ALTER TABLE gold.%I ENABLE ROW LEVEL SECURITY', t.relname);
            END IF;
            FOR tenant IN SELECT tr.role_name, tr.apartment_id FROM gold.tenant_role tr
                          JOIN pg_roles r ON r.rolname = tr.role_name LOOP
                policy := 'tenant_' || tenant.role_name;
                IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = policy) THEN
                    EXECUTE format('CREATE POLICY %I ON gold.%I FOR SELECT TO %I USING (apartment_id = %L)',
                                   policy, t.relname, tenant.role_name, tenant.apartment_id);
                END IF;
            END LOOP;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'role_admin')
               AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = 'admin_all') THEN
                EXECUTE format('CREATE POLICY admin_all ON gold.%I FOR SELECT TO role_admin USING (true)',
                               t.relname);
            END IF;
        END IF;
        FOR tenant IN SELECT r.rolname FROM pg_roles r
                      WHERE r.rolname IN (SELECT role_name FROM gold.tenant_role UNION ALL SELECT 'role_admin') LOOP
            IF NOT has_table_privilege(tenant.rolname, t.oid, 'SELECT') THEN
                EXECUTE format('GRANT SELECT ON gold.%I TO %I', t.relname, tenant.rolname);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
