-- gold.fact_presence_minute: one row per room and UTC minute with a motion or door reading.
-- presence_flag = motion in that minute OR a door opened/closed in that minute (a state change against the
-- contact's previous reading); a door standing open is not presence. presence_prob stays NULL until a
-- model fills it. Definitions in docs/gold.md ("fact_presence_minute").
CREATE TABLE IF NOT EXISTS gold.fact_presence_minute (
    datetime_key          bigint           NOT NULL,
    room_key              bigint           NOT NULL,
    date_key              integer          NOT NULL,
    apartment_key         bigint           NOT NULL,
    apartment_id          text             NOT NULL,
    motion_count          integer          NOT NULL CHECK (motion_count >= 0),
    door_open_flag        boolean,         -- NULL: no door reading in that minute
    door_transition_count integer          NOT NULL CHECK (door_transition_count >= 0),
    presence_flag         boolean          NOT NULL,
    presence_prob         double precision,
    CONSTRAINT fact_presence_minute_pkey PRIMARY KEY (datetime_key, room_key),
    CONSTRAINT fact_presence_minute_flag CHECK (presence_flag = (motion_count > 0 OR door_transition_count > 0))
);
