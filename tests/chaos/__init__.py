"""`make chaos`: a long randomised fault-injection run that proves the system loses and duplicates nothing it
accepted (run it with `python -m tests.chaos`; not part of `make test`)."""
