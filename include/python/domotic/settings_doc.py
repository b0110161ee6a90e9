"""The README's configuration tables, generated from the settings registry (``domotic.settings``).

``python -m domotic.settings_doc`` prints them; ``python -m domotic.settings_doc --write README.md`` replaces the
block between the ``<!-- settings:begin -->`` and ``<!-- settings:end -->`` markers. A test fails when the README
differs from the registry, so the documented settings are always the ones the code reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from domotic.settings import CONNECTIONS, ENVIRONMENT, VARIABLES

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def tables() -> str:
    lines = ["Connections (Airflow Connections, or `AIRFLOW_CONN_<ID>` environment variables as URI or JSON):", "",
             "| id | what |", "|---|---|"]
    lines += [f"| `{conn_id}` | {_cell(meaning)} |" for conn_id, meaning in CONNECTIONS.items()]
    lines += ["", "Variables (Airflow Variables or `AIRFLOW_VAR_<KEY>`), read at task run time, each with a type and "
              "a default; a value of the wrong type fails the task at once, naming the Variable:", "",
              "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{s.key}` | {s.type.__name__} | `{s.default}` | {_cell(s.meaning)} |" if s.default
              else f"| `{s.key}` | {s.type.__name__} | (empty) | {_cell(s.meaning)} |" for s in VARIABLES.values()]
    lines += ["", "Environment, read when DAG files are parsed (cheap, unlike Variables):", "",
              "| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{e.name}` | {f'`{e.default}`' if e.default else '(none)'} | {_cell(e.meaning)} |"
              for e in ENVIRONMENT.values()]
    return "\n".join(lines)


def replace_block(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + tables() + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="the README to update in place")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(replace_block(args.write.read_text()))
    else:
        print(tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
