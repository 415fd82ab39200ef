"""The domain core: contracts, readings, statistics, rules, the alert state machine, notification routing.

Plain functions that take data and return data. No I/O, and no imports from the
rest of the project (import-linter checks both in `make test`).
"""
