-- gold.dim_tariff: electricity price by validity dates, half-open [valid_from, valid_to) in local
-- (Europe/Zurich) dates; valid_to NULL = open-ended. At most one tariff applies to any date (exclusion
-- constraint). tariff_key is derived from the natural key (provider, valid_from).
-- Seeded by dim_tariff_seed.sql; operators change prices here (see docs/gold.md) and rebuild the dates.
CREATE TABLE IF NOT EXISTS gold.dim_tariff (
    tariff_key  bigint GENERATED ALWAYS AS
                    (gold.stable_key('tariff|' || provider || '|' || (valid_from - DATE '2000-01-01')::text)) STORED,
    provider    text          NOT NULL,
    valid_from  date          NOT NULL,
    valid_to    date,
    chf_per_kwh numeric(8, 4) NOT NULL CHECK (chf_per_kwh >= 0),
    year        smallint,     -- informational: the calendar year when the row covers exactly one year
    note        text,
    CONSTRAINT dim_tariff_pkey PRIMARY KEY (tariff_key),
    CONSTRAINT dim_tariff_natural_key UNIQUE (provider, valid_from),
    CONSTRAINT dim_tariff_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT dim_tariff_no_overlap EXCLUDE USING gist (daterange(valid_from, valid_to) WITH &&)
);
