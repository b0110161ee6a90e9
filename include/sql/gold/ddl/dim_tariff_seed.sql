-- Seed of gold.dim_tariff: the original's OIKEN tariff, 0.34 CHF/kWh for 2023, 2024 and 2025.
-- Inserted only where nothing covers the dates yet (ON CONFLICT DO NOTHING also yields to the no-overlap
-- constraint), so a price an operator changed or a row an operator added is never overwritten.
INSERT INTO gold.dim_tariff (provider, valid_from, valid_to, chf_per_kwh, year, note)
VALUES ('OIKEN', DATE '2023-01-01', DATE '2024-01-01', 0.3400, 2023, 'seed: original tariff'),
       ('OIKEN', DATE '2024-01-01', DATE '2025-01-01', 0.3400, 2024, 'seed: original tariff'),
       ('OIKEN', DATE '2025-01-01', DATE '2026-01-01', 0.3400, 2025, 'seed: original tariff')
ON CONFLICT DO NOTHING;
