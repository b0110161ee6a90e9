-- gold.dim_apartment: one row per apartment (tenant) seen in Silver.
-- Grain: apartment. Natural key apartment_id ('jimmy', 'jeremie'): the tenant key of row-level security.
-- Key: apartment_key = stable_key('apartment|' || apartment_id). Building attributes come from the MySQL
-- reference snapshot (silver.dim_buildings) when it has the apartment; personal data never reaches Gold:
-- building_name is masked as 'Building <id>' and owner_user_id is always NULL (kept for the BI contract).
CREATE TABLE IF NOT EXISTS gold.dim_apartment (
    apartment_key     bigint   PRIMARY KEY,
    apartment_id      text     NOT NULL UNIQUE,
    name              text     NOT NULL,
    owner_user_id     text,
    building_id       integer,
    building_name     text,
    building_type     text,
    building_year     smallint,
    nb_people         smallint,
    heating_electric  boolean,
    surface_m2        numeric,
    floor             integer,            -- unknown in every source: NULL (BI contract)
    weather_site_key  bigint,             -- the first configured weather site
    weather_site_name text
);
