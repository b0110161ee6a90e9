"""``python -m domotic.warehouse migrate|status [--conn-id ID]``: the deploy step that brings the warehouse
schema to this code's version (used by make demo, make airflow and compose's airflow-init)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from domotic.settings import POSTGRES_CONN_ID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m domotic.warehouse", description=__doc__)
    parser.add_argument("command", choices=("migrate", "status"))
    parser.add_argument("--conn-id", default=POSTGRES_CONN_ID, help="the Airflow connection of the warehouse")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from domotic.warehouse import tasks

    result = tasks.migrate(args.conn_id) if args.command == "migrate" else tasks.status(args.conn_id)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
