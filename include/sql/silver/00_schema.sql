-- Schema of the cleaned, full-resolution layer.
CREATE SCHEMA IF NOT EXISTS silver;
