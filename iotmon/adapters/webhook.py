"""Webhooks: the alert change POSTed as JSON (a binary-mode CloudEvent over HTTP).

The body is the alert event's data (schema/events/alert.schema.json); the
`ce-*` headers carry the event's id, type and source, so a receiver can
deduplicate by `ce-id`. Only a 2xx answer counts as delivered; redirects are
not followed (a POST must not turn into a GET).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import msgspec

from iotmon import __version__
from iotmon.core.channels import DeliveryError
from iotmon.core.contracts.alerts import AlertChange

_RETRYABLE_STATUS = {408, 425, 429}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx becomes an HTTPError: not delivered


_opener = urllib.request.build_opener(_NoRedirects)


def post_webhook(url: str, change: AlertChange, attributes: Mapping[str, str | None], timeout: float = 5.0) -> int:
    """POST the change to the URL; returns the 2xx status, raises DeliveryError otherwise."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"iotmon-notify/{__version__}",
        "ce-specversion": "1.0",
        **{f"ce-{name}": str(value) for name, value in attributes.items() if value is not None},
    }
    request = urllib.request.Request(url, data=msgspec.json.encode(change), headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        retryable = error.code >= 500 or error.code in _RETRYABLE_STATUS
        raise DeliveryError(f"webhook answered {error.code} {error.reason}", retryable=retryable) from None
    except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"webhook unreachable: {reason}", retryable=True) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered {status}", retryable=status >= 500)
    return status
