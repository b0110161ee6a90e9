"""Apartments are data (issue 21): no owner handle of the two original apartments is written in pipeline code.

The apartments live in ``silver.apartment_registry`` (seeded by ``include/sql/seeds/apartments.sql``, fed by the
pidb snapshot and by onboarding); the generator's simulated apartments and the fixtures are data too.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANDLE_LITERAL = re.compile(r"jimmyloup|jeremievianin", re.IGNORECASE)
PIPELINE = [REPO / "include" / "python" / "domotic", REPO / "dags", REPO / "plugins", REPO / "include" / "sql"]
EXCLUDED = [REPO / "include" / "python" / "domotic" / "generator", REPO / "include" / "sql" / "fixtures",
            REPO / "include" / "sql" / "seeds"]


def pipeline_files() -> list[Path]:
    files = []
    for root in PIPELINE:
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".sql") and not any(path.is_relative_to(ex) for ex in EXCLUDED):
                files.append(path)
    return files


def test_no_owner_handle_in_pipeline_code():
    files = pipeline_files()
    assert len(files) > 50  # the walk found the code
    offenders = [f"{path.relative_to(REPO)}:{number}"
                 for path in files
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if HANDLE_LITERAL.search(line)]
    assert offenders == [], f"apartments are data (silver.apartment_registry), not code: {offenders}"


def test_the_seed_is_where_the_handles_are():
    seed = (REPO / "include" / "sql" / "seeds" / "apartments.sql").read_text(encoding="utf-8")
    assert HANDLE_LITERAL.search(seed)
