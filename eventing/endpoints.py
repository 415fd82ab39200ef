"""Where each function listens: the URL a source delivers its events to.

In a cluster, a sink `ref: {kind: Service, name: <service>}` resolves to
`http://<service>.<namespace>.svc.cluster.local`. Locally, `iotmon router`
takes each function's URL from, in this order:

1. `--function-url <service>=<url>` (repeatable);
2. `IOTMON_FUNCTION_URLS="<service>=<url>,<service>=<url>,…"`;
3. `http://127.0.0.1:<base + i>`, where i is the service's place in `FUNCTIONS`
   and the base is `--functions-base-port` or `IOTMON_FUNCTIONS_BASE_PORT`
   (default 8081): ingest 8081, aggregate 8082, evaluate-rule 8083,
   escalate-cron 8084, notify 8085.
"""

from __future__ import annotations

from collections.abc import Iterable

from eventing.sources import NAMESPACE

FUNCTIONS = ("ingest", "aggregate", "evaluate-rule", "escalate-cron", "notify")  # Knative Service names
DEFAULT_BASE_PORT = 8081
URLS_ENV = "IOTMON_FUNCTION_URLS"
BASE_PORT_ENV = "IOTMON_FUNCTIONS_BASE_PORT"


def cluster_url(service: str, namespace: str = NAMESPACE) -> str:
    return f"http://{service}.{namespace}.svc.cluster.local"


def local_url(service: str, base_port: int = DEFAULT_BASE_PORT, host: str = "127.0.0.1") -> str:
    if service not in FUNCTIONS:
        raise ValueError(f"no default port for {service!r}: give its URL ({URLS_ENV} or --function-url)")
    return f"http://{host}:{base_port + FUNCTIONS.index(service)}"


def parse_urls(items: Iterable[str]) -> dict[str, str]:
    """{service: url} from `service=url` items (empty items are skipped)."""
    urls: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        service, sep, url = item.partition("=")
        if not sep or not service.strip() or not url.strip().startswith(("http://", "https://")):
            raise ValueError(f"expected <service>=http://<host>:<port>, got {item!r}")
        urls[service.strip()] = url.strip().rstrip("/")
    return urls


def function_urls(
    services: Iterable[str],
    configured: Iterable[str] = (),
    overrides: Iterable[str] = (),
    base_port: int | None = None,
) -> dict[str, str]:
    """The URL of each service the router delivers to, by the rules above; ValueError on a bad setting.

    `configured`: the `<service>=<url>` items of IOTMON_FUNCTION_URLS; `overrides`: those of --function-url.
    """
    wanted = sorted(set(services))
    given = {**parse_urls(configured), **parse_urls(overrides)}
    if unknown := sorted(set(given) - set(wanted)):
        raise ValueError(f"URLs given for {unknown}, which the manifests route nothing to (they route to {wanted})")
    base = base_port if base_port is not None else DEFAULT_BASE_PORT
    return {service: given.get(service) or local_url(service, base) for service in wanted}
