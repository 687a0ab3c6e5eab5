"""python -m paychaos_targets.walletpay api|worker [options]: run one walletpay process."""

from __future__ import annotations

import asyncio
import logging
import sys

from paychaos_targets.walletpay import api, worker
from paychaos_targets.walletpay._config import parse
from paychaos_targets.walletpay._serve import run_until_signalled


def main(argv: list[str] | None = None) -> None:
    settings = parse(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {settings.role} %(levelname)s %(message)s",
    )
    role = api.run if settings.role == "api" else worker.run

    async def main_(stop: asyncio.Event) -> None:
        await role(settings, stop)

    run_until_signalled(main_)


if __name__ == "__main__":
    main()
