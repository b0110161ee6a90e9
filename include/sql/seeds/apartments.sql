-- Seed of the apartment registry: what pidb does not say about the apartments, versioned here and applied at
-- every migrate (docs/runbook.md, "Onboard and offboard an apartment").
--
-- Rules:
-- * A row is inserted only when neither its apartment_id nor its handle (case-insensitive) is registered yet:
--   the seed never overwrites what operations changed since (an offboarding's active_to, a corrected weather
--   site); change those with `python -m domotic.warehouse.tenants`, not here.
-- * apartment_id is pinned here for the apartments that existed before the registry ('jimmy', 'jeremie': the
--   tenant key of Silver and Gold history). An apartment registered from pidb without a seed row gets the rule
--   of domotic.warehouse.tenants.derive_apartment_id: the handle's first word (CamelCase) in lower case.
-- * weather_site NULL: the first configured site (Variable weather_sites); source_tz NULL: domotic_source_tz.
-- * An inserted apartment is mapped to its owner's role role_<apartment_id> (created by gold_security.sql).
WITH seed (apartment_id, owner_handle, weather_site, source_tz, active_from) AS (
    VALUES ('jimmy', 'JimmyLoup', NULL::text, NULL::text, DATE '2023-08-01'),
           ('jeremie', 'JeremieVianin', NULL, NULL, DATE '2023-08-01')
),
inserted AS (
    INSERT INTO silver.apartment_registry (apartment_id, owner_handle, weather_site, source_tz, active_from, origin)
    SELECT s.apartment_id, s.owner_handle, s.weather_site, s.source_tz, s.active_from, 'seed'
    FROM seed s
    WHERE NOT EXISTS (SELECT 1 FROM silver.apartment_registry r
                      WHERE r.apartment_id = s.apartment_id OR lower(r.owner_handle) = lower(s.owner_handle))
    ON CONFLICT DO NOTHING
    RETURNING apartment_id
)
INSERT INTO gold.tenant_membership (role_name, apartment_id)
SELECT 'role_' || apartment_id, apartment_id FROM inserted
ON CONFLICT DO NOTHING;
