-- Reference data of the weekly MySQL snapshot, in a fixed shape for this transaction.
-- silver.dim_buildings, dim_building_types, dim_rooms, dim_sensors and dim_devices are created by
-- mysql_snapshot_weekly with MySQL's column types: they do not exist on a fresh install and their shape follows
-- upstream. Each is read only when it exists with the columns used here; otherwise its stand-in stays empty
-- and the dimensions are built from Silver alone (enrichment is optional, never a reason to fail).
-- Room names are kept raw here (Bdroom...); the dimension templates normalise them.
DO $$
DECLARE
    has_buildings boolean;
    has_types     boolean;
    has_rooms     boolean;
    has_sensors   boolean;
    has_devices   boolean;
BEGIN
    SELECT count(*) = 7 INTO has_buildings FROM pg_attribute
    WHERE attrelid = to_regclass('silver.dim_buildings') AND NOT attisdropped
      AND attname IN ('idBuilding', 'apartment', 'idBuildingType', 'buildingYear', 'nbPeople',
                      'heatingElectric', 'surface');
    SELECT count(*) = 2 INTO has_types FROM pg_attribute
    WHERE attrelid = to_regclass('silver.dim_building_types') AND NOT attisdropped
      AND attname IN ('idBuildingType', 'name');
    SELECT count(*) = 7 INTO has_rooms FROM pg_attribute
    WHERE attrelid = to_regclass('silver.dim_rooms') AND NOT attisdropped
      AND attname IN ('idRoom', 'idBuilding', 'name', 'floor', 'orientation', 'surface', 'hasWindow');
    SELECT count(*) = 6 INTO has_sensors FROM pg_attribute
    WHERE attrelid = to_regclass('silver.dim_sensors') AND NOT attisdropped
      AND attname IN ('idSensor', 'idRoom', 'name', 'type', 'batteryPowered', 'active');
    SELECT count(*) = 5 INTO has_devices FROM pg_attribute
    WHERE attrelid = to_regclass('silver.dim_devices') AND NOT attisdropped
      AND attname IN ('idDevice', 'idRoom', 'name', 'type', 'ratedPowerW');

    CREATE TEMP TABLE gold_ref_building (
        apartment text, building_id integer, building_type text, building_year smallint, nb_people smallint,
        heating_electric boolean, surface_m2 numeric) ON COMMIT DROP;
    CREATE TEMP TABLE gold_ref_room (
        apartment text, room_id integer, room_raw text, floor smallint, orientation text, surface_m2 numeric,
        has_window boolean) ON COMMIT DROP;
    CREATE TEMP TABLE gold_ref_sensor (
        apartment text, sensor_id integer, room_raw text, name text, type text, battery_powered boolean,
        active boolean) ON COMMIT DROP;
    CREATE TEMP TABLE gold_ref_device (
        apartment text, device_id integer, room_raw text, name text, type text, rated_power_w integer)
        ON COMMIT DROP;

    IF has_buildings THEN
        INSERT INTO gold_ref_building
        SELECT b.apartment::text, b."idBuilding"::integer, NULL, b."buildingYear"::smallint,
               b."nbPeople"::smallint, b."heatingElectric"::boolean, b."surface"::numeric
        FROM silver.dim_buildings b
        WHERE b.apartment IS NOT NULL;
        IF has_types THEN
            UPDATE gold_ref_building g SET building_type = t.name::text
            FROM silver.dim_buildings b
            JOIN silver.dim_building_types t ON t."idBuildingType" = b."idBuildingType"
            WHERE b."idBuilding"::integer = g.building_id;
        END IF;
    END IF;
    IF has_buildings AND has_rooms THEN
        INSERT INTO gold_ref_room
        SELECT g.apartment, r."idRoom"::integer, r.name::text, r.floor::smallint, r.orientation::text,
               r.surface::numeric, r."hasWindow"::boolean
        FROM silver.dim_rooms r
        JOIN gold_ref_building g ON g.building_id = r."idBuilding"::integer;
    END IF;
    IF has_buildings AND has_rooms AND has_sensors THEN
        INSERT INTO gold_ref_sensor
        SELECT r.apartment, s."idSensor"::integer, r.room_raw, s.name::text, s.type::text,
               s."batteryPowered"::boolean, s.active::boolean
        FROM silver.dim_sensors s
        JOIN gold_ref_room r ON r.room_id = s."idRoom"::integer;
    END IF;
    IF has_buildings AND has_rooms AND has_devices THEN
        INSERT INTO gold_ref_device
        SELECT r.apartment, d."idDevice"::integer, r.room_raw, d.name::text, d.type::text,
               d."ratedPowerW"::integer
        FROM silver.dim_devices d
        JOIN gold_ref_room r ON r.room_id = d."idRoom"::integer;
    END IF;
END
$$
