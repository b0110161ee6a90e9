-- Tenants of the BI layer: which database role sees which apartment. Add a row (and run gold_build, or this
-- file and rls.sql) to onboard an apartment. Read by rls.sql, never by BI roles.
CREATE TABLE IF NOT EXISTS gold.tenant_role (
    role_name    text PRIMARY KEY,
    apartment_id text NOT NULL
);
INSERT INTO gold.tenant_role (role_name, apartment_id)
VALUES ('role_jimmy', 'jimmy'), ('role_jeremie', 'jeremie')
ON CONFLICT (role_name) DO NOTHING;
