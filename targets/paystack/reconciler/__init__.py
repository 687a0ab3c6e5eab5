"""reconciler: resolves payments and payouts whose outcome is unknown, by asking the bank."""
