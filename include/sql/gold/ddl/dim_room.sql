-- gold.dim_room: one row per (apartment, room) seen in Silver; pseudo-rooms included and typed.
-- Grain: room of an apartment. Natural key (apartment_id, room_name); room_key = stable_key('room|' ||
-- apartment_id || '|' || room_name). room_type: 'indoor'; 'outdoor' (the outdoor station: kept apart from
-- every indoor figure, is_outdoor); 'meter' (House, the whole-house meter); 'appliance' (plug keys that are
-- appliances: Dishwasher, Dryer, WashingMachine). Reference attributes from silver.dim_rooms when it matches.
CREATE TABLE IF NOT EXISTS gold.dim_room (
    room_key      bigint  PRIMARY KEY,
    apartment_key bigint  NOT NULL,
    apartment_id  text    NOT NULL,
    room_name     text    NOT NULL,
    room_type     text    NOT NULL CHECK (room_type IN ('indoor', 'outdoor', 'meter', 'appliance')),
    is_outdoor    boolean NOT NULL,
    room_id       integer,            -- silver.dim_rooms.idRoom
    floor         smallint,
    orientation   text,
    surface_m2    numeric,
    has_window    boolean,
    CONSTRAINT dim_room_natural_key UNIQUE (apartment_id, room_name)
);
