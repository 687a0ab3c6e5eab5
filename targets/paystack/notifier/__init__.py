"""notifier: delivers signed payment results to the merchant, at least once."""
