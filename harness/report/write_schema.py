"""Write ``results.schema.json`` from the models: ``python -m paychaos.report.write_schema [--check]``.

``--check`` writes nothing and exits 1 if the shipped file is not what the models generate.
"""

from __future__ import annotations

import argparse
import sys

from paychaos.report._schema import SHIPPED, schema_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paychaos.report.write_schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if results.schema.json is out of date")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.check:
        if SHIPPED.read_text(encoding="utf-8") != text:
            print(f"{SHIPPED} is out of date; run: python -m paychaos.report.write_schema", file=sys.stderr)
            return 1
        return 0
    SHIPPED.write_text(text, encoding="utf-8")
    print(f"wrote {SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
