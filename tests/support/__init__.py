"""Helpers shared by the tests: waiting on conditions, querying databases, faulty network links."""
