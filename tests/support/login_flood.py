"""`python -m tests.support.login_flood <url> <logins> <threads>`: that many concurrent failed logins, from a
process of its own (so that the service's process measures only the service); prints the statuses as JSON."""

from __future__ import annotations

import json
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx


def main(url: str, logins: int, threads: int) -> None:
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=threads)) as client:

        def attempt(n: int) -> int:
            body = {"username": f"flood-{n % 8}", "password": "guess"}
            return client.post(f"{url}/api/auth/login", json=body).status_code

        with ThreadPoolExecutor(threads) as pool:
            print(json.dumps(Counter(pool.map(attempt, range(logins)))))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
