-- The apartments (tenants) Gold knows, with their surrogate keys.
SELECT apartment_id, apartment_key FROM gold.dim_apartment ORDER BY apartment_id
