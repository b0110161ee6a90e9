"""The warehouse's schema: versioned migrations, applied once per deploy, checked cheaply by every run.

Owns: the numbered migrations of include/sql/migrations/ and the repeatable scripts of
include/sql/migrations/repeatable/ (``migrations``: discover, apply, check the version), and the task body of
``warehouse_migrate`` and of ``python -m domotic.warehouse migrate`` (``tasks``). See docs/runbook.md, "Deploy".
"""
