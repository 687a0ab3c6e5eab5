"""Sample targets that paychaos experiments run against."""
