"""bank: the issuer's ledger. Accounts, credit lines, double-entry postings, two payout channels."""
