"""Brute force is slow and quiet: the rate limit sees the real client, failed logins are throttled per
username and per address, hashing is Argon2id off the event loop at the same cost for unknown users, and a
weak admin password is refused at start."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from iotmon.adapters.settings import Settings
from tests.support.auth import PASSWORD, ensure_user
from tests.support.memory import rss_mib
from tests.support.service import error_of, running_system
from tests.support.up import iotmon_command


@pytest.fixture(autouse=True)
def no_failed_logins(redis_url):
    """Each test starts with no failed logins counted, and leaves none for the next module."""
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter("login:failures:*"):
        store.delete(key)
    yield
    for key in store.scan_iter("login:failures:*"):
        store.delete(key)


def attempt(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/api/auth/login", json={"username": username, "password": password}, timeout=60)


def test_x_forwarded_for_is_trusted_only_from_configured_proxies(database_url, redis_url, tmp_path):
    store = redis.Redis.from_url(redis_url)
    with running_system(database_url, redis_url, tmp_path / "a", rate_limit_per_minute=5) as system:
        for key in store.scan_iter("ratelimit:*"):
            store.delete(key)
        statuses = [
            httpx.get(f"{system.url}/api/devices", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
            for n in range(8)
        ]
        assert statuses == [200] * 5 + [429] * 3  # one client however many addresses it claims
    with running_system(
        database_url, redis_url, tmp_path / "b", rate_limit_per_minute=5, trusted_proxies=("127.0.0.1",)
    ) as behind_a_proxy:
        for key in store.scan_iter("ratelimit:*"):
            store.delete(key)
        statuses = [
            httpx.get(f"{behind_a_proxy.url}/api/devices", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
            for n in range(8)
        ]
        assert statuses == [200] * 8  # the proxy says who each client is


def test_failed_logins_for_a_name_make_it_wait_even_for_the_right_password(url, database_url):
    ensure_user(database_url, "olivia", "operator")
    answers = [attempt(url, "olivia", f"guess {n}") for n in range(6)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    refused = attempt(url, "olivia", PASSWORD)  # right, but too soon after the guesses
    assert int(error_of(refused, 429, "TOO_MANY_ATTEMPTS") and refused.headers["retry-after"]) >= 1
    time.sleep(int(refused.headers["retry-after"]) + 0.2)
    assert attempt(url, "olivia", PASSWORD).status_code == 200


def test_each_further_failure_doubles_the_wait(url, database_url):
    ensure_user(database_url, "olivia", "operator")
    assert [attempt(url, "olivia", f"guess {n}").status_code for n in range(5)] == [401] * 5  # the free ones
    waits = []
    for n in range(2):
        refused = attempt(url, "olivia", PASSWORD)
        waits.append(int(error_of(refused, 429, "TOO_MANY_ATTEMPTS") and refused.headers["retry-after"]))
        time.sleep(waits[-1] + 0.2)
        assert attempt(url, "olivia", f"late guess {n}").status_code == 401  # checked after the wait, and wrong
    assert waits == [1, 2]  # (Retry-After rounds up: asked at once after a failure, it is the whole wait)


def test_guesses_sent_all_at_once_are_counted_at_once(url, database_url):
    ensure_user(database_url, "olivia", "operator")
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda n: attempt(url, "olivia", f"guess {n}").status_code, range(20)))
    # At most the five free guesses are checked; the rest wait (503: more logins queued than allowed).
    assert statuses.count(401) <= 5 and statuses.count(429) >= 14 and set(statuses) <= {401, 429, 503}, statuses


def test_one_address_guessing_many_names_is_throttled(url):
    answers = [attempt(url, f"name-{n}", "guess").status_code for n in range(22)]
    assert answers[:20] == [401] * 20 and 429 in answers[20:]


def test_unknown_and_known_names_take_as_long(url, database_url, redis_url):
    ensure_user(database_url, "olivia", "operator")
    store = redis.Redis.from_url(redis_url)
    times: dict[str, list[float]] = {"olivia": [], "nobody-at-all": []}
    for _ in range(12):  # taken in turns, so that a burst of load on the machine weighs on both alike
        for username, taken in times.items():
            for key in store.scan_iter("login:failures:*"):  # every attempt is checked: no throttle's 429
                store.delete(key)
            started = time.perf_counter()
            assert attempt(url, username, "wrong password").status_code == 401
            taken.append((time.perf_counter() - started) * 1000)
    known, unknown = (statistics.median(taken) for taken in times.values())
    assert abs(known - unknown) < 0.5 * max(known, unknown), (known, unknown)


def test_a_flood_of_logins_neither_stalls_the_service_nor_grows_its_memory(url):
    before = rss_mib()
    flood = subprocess.Popen(
        [sys.executable, "-m", "tests.support.login_flood", url, "200", "64"], stdout=subprocess.PIPE, text=True
    )
    probes: list[float] = []
    while flood.poll() is None:
        started = time.perf_counter()
        httpx.get(f"{url}/healthz", timeout=60)
        probes.append(time.perf_counter() - started)
    statuses = json.loads(flood.communicate()[0])
    assert set(statuses) <= {"401", "429", "503"}, statuses  # 503: more logins waiting than allowed
    # The hashes run beside the event loop, not on it: other requests are answered meanwhile (a loose bound:
    # a hash-bound event loop would hold each probe behind the flood's queue).
    assert probes and max(probes) < 5, f"GET /healthz took up to {max(probes):.2f} s during the flood"
    assert rss_mib() - before < 64


def test_passwords_are_hashed_with_argon2id(database_url):
    from iotmon.adapters.postgres import users

    stored = users.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and "m=19456" in stored
    assert users.needs_rehash("scrypt$16384$8$1$c2FsdA==$ZGlnZXN0")


def test_a_weak_admin_password_is_refused_at_start():
    with pytest.raises(ValueError, match="IOTMON_ADMIN_PASSWORD: the password is"):
        Settings.from_env({"IOTMON_ADMIN_PASSWORD": "admin1234567"})
    done = subprocess.run(
        [iotmon_command(), "up"],
        env={"IOTMON_ADMIN_PASSWORD": "x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "IOTMON_ADMIN_PASSWORD" in done.stderr and "Traceback" not in done.stderr
