-- VACUUM (ANALYZE) of the big tables listed by the upstream task list_big_tables (big_tables.sql), one
-- statement each. VACUUM cannot run inside a transaction: the operator runs with autocommit=True and
-- split_statements=True. Names are already quoted identifiers from the catalog.
{% for table in ti.xcom_pull(task_ids='list_big_tables') or [] %}
VACUUM (ANALYZE) {{ table }};
{% else %}
SELECT 'no big table exists yet: nothing to vacuum';
{% endfor %}
