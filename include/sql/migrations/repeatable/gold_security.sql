-- Row-level security of the Gold layer: a repeatable script, re-run by every migrate after the numbered
-- migrations (idempotent: it only creates what is missing, so Gold tables added later get their policies).
--
-- Roles (NOLOGIN group roles; BI logins are members, see docs/gold.md):
--   role_tenant:  SELECT on Gold; on every table with an apartment_id column only the rows of the apartments
--                 gold.tenant_membership maps to the querying role (or a role it is a member of);
--   role_<apartment_id>: an owner's role, member of role_tenant, mapped to its apartment by onboarding
--                 (python -m domotic.warehouse.tenants onboard, or the pidb snapshot for a new building);
--   role_admin:   SELECT on Gold, every row.
-- Every Gold table with an apartment_id column (dims and facts alike) gets RLS enabled and two policies,
-- whatever the number of apartments: tenant_membership (TO role_tenant, keyed on the mapping through
-- gold.my_apartments(), the caller's gold.tenant_apartments(current_user), evaluated once per query and an index
-- condition on the facts' (apartment_id, datetime_key) indexes) and admin_all (TO role_admin). Tables without
-- apartment_id hold no apartment data (calendar, tariff, weather sites and forecasts) and are readable by both
-- group roles. gold.build_window and gold.tenant_membership are not granted.
-- The pipeline's own role owns the tables and is not subject to RLS (it writes every apartment).
-- Roles are created when the connected role may (CREATEROLE); otherwise a DBA runs this once as superuser.
-- Policies are only created when missing, so a routine run takes no lock a BI query would wait on.
SELECT gold.ensure_tenant_roles();

DO $$
DECLARE
    t     record;
    grp   record;
BEGIN
    FOR grp IN SELECT rolname FROM pg_roles WHERE rolname IN ('role_tenant', 'role_admin') LOOP
        IF NOT has_schema_privilege(grp.rolname, 'gold', 'USAGE') THEN
            EXECUTE format('GRANT USAGE ON SCHEMA gold TO %I', grp.rolname);
        END IF;
    END LOOP;

    FOR t IN
        SELECT c.oid, c.relname, c.relrowsecurity,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'apartment_id' AND NOT a.attisdropped) AS tenant_data
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'gold' AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('build_window', 'tenant_membership')
    LOOP
        IF t.tenant_data THEN
            -- RLS first, grants after: tenant rows are never readable without their policy.
            IF NOT t.relrowsecurity THEN
                EXECUTE format('ALTER TABLE gold.%I ENABLE ROW LEVEL SECURITY', t.relname);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'role_tenant')
               AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = 'tenant_membership') THEN
                EXECUTE format('CREATE POLICY tenant_membership ON gold.%I FOR SELECT TO role_tenant '
                               'USING (apartment_id = ANY ((SELECT gold.my_apartments())::text[]))',
                               t.relname);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'role_admin')
               AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = 'admin_all') THEN
                EXECUTE format('CREATE POLICY admin_all ON gold.%I FOR SELECT TO role_admin USING (true)',
                               t.relname);
            END IF;
        END IF;
        FOR grp IN SELECT rolname FROM pg_roles WHERE rolname IN ('role_tenant', 'role_admin') LOOP
            IF NOT has_table_privilege(grp.rolname, t.oid, 'SELECT') THEN
                EXECUTE format('GRANT SELECT ON gold.%I TO %I', t.relname, grp.rolname);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
