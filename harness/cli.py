"""The ``paychaos`` command. The only module that prints for the user or exits.

Every command catches :class:`~harness.errors.PaychaosError` in one place
(:func:`main`) and maps it to the documented exit code.
"""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.errors import ExitCode, PaychaosError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paychaos")
def cli() -> None:
    """Chaos experiments for payment stacks."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    try:
        cli.main(args=argv, prog_name="paychaos", standalone_mode=False)
    except PaychaosError as exc:
        click.echo(f"paychaos: {exc}", err=True)
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("paychaos: interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.INVALID)
    return int(ExitCode.HELD)


if __name__ == "__main__":
    sys.exit(main())
