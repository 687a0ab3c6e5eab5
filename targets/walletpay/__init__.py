"""walletpay: a wallet payments API, a background capture worker and PostgreSQL.

A second sample target for paychaos, written from its documentation alone. Customers hold wallets
with balances in a double-entry ledger; ``POST /v1/charges`` queues a charge; the worker claims
queued charges from PostgreSQL, captures them (wallet → merchant, one transaction) and reports
the result to the API over HTTP, which marks the charge and fulfils the order.

Run ``python -m paychaos_targets.walletpay api|worker`` (see ``--help``); every setting also
comes from a ``WALLETPAY_*`` environment variable, so the same image runs under Docker Compose.
"""
