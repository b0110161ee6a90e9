"""Where the repository's non-Python assets live, found from the installed package (no cwd, no PYTHONPATH)."""

from __future__ import annotations

from pathlib import Path

INCLUDE_DIR = Path(__file__).resolve().parents[2]
SQL_DIR = INCLUDE_DIR / "sql"
FIXTURES_DIR = INCLUDE_DIR / "fixtures"
REPO_ROOT = INCLUDE_DIR.parent
