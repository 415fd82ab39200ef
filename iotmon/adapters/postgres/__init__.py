"""PostgreSQL: pools and migrations (`db`), readings (`storage`), alerts, silences, users, the notifications log."""
