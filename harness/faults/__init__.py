"""Fault injection: the mechanisms paychaos uses to break a target on purpose."""
