"""Delivering events to a function, and what its answer means.

The router reaches a function through one contract, `Function`, in two ways:
`InProcess` calls the function's core with a batch of events (the embedded
run); `eventing.http_sink.OverHttp` POSTs one binary-mode CloudEvent per
request to a function served by functions-framework, as Knative does.

One attempt ends in success or a `Failure`. As in Knative's dispatcher, a
failure is worth retrying when the function answered 5xx, 404, 409 or 429, or
did not answer at all (refused connection, timeout); any other answer (3xx,
other 4xx) means the event can never be handled, so it is dead-lettered at
once. A function says so by raising `Rejected` (served over HTTP, that is a
400: functions/serving.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cloudevents.http import CloudEvent

MAX_ERROR_DATA = 1024  # bytes of a failed answer kept in knativeerrordata, as Knative keeps


class Rejected(Exception):
    """This event can never be handled: do not retry it, dead-letter it (HTTP 400)."""


@dataclass(frozen=True)
class Failure:
    reason: str
    retryable: bool
    status: int | None = None  # the HTTP status; None when no answer came
    body: bytes = b""  # the answer, for knativeerrordata

    @classmethod
    def of_status(cls, status: int, body: bytes) -> Failure:
        return cls(f"HTTP {status}", retryable_status(status), status, body[:MAX_ERROR_DATA])


def retryable_status(status: int) -> bool:
    """Knative's rule (specs/eventing/data-plane.md): retry 5xx, 404, 409 and 429; not other non-2xx."""
    return status >= 500 or status in (404, 409, 429)


@runtime_checkable
class Function(Protocol):
    name: str  # the Knative Service name the manifests route to
    destination: str  # where the events go, for knativeerrordest
    batch: bool  # takes a poll's worth of events per attempt; else exactly one
    concurrency: int  # attempts it may have in flight at once

    def attempt(self, events: Sequence[CloudEvent], timeout: float | None) -> Failure | None:
        """Deliver once; None on success."""

    def close(self) -> None: ...


Core = Callable[[Sequence[CloudEvent]], object]


class InProcess:
    """A function's core called in this process, a batch at a time (the embedded run)."""

    batch = True
    concurrency = 1

    def __init__(self, name: str, core: Core) -> None:
        self.name = name
        self.destination = name
        self.core = core

    def attempt(self, events: Sequence[CloudEvent], timeout: float | None = None) -> Failure | None:
        try:
            self.core(events)
        except Rejected as rejected:
            return Failure(f"Rejected: {rejected}", False, 400, str(rejected).encode()[:MAX_ERROR_DATA])
        except Exception as error:  # what functions-framework would answer with a 500
            text = f"{type(error).__name__}: {error}"
            return Failure(text, True, 500, text.encode()[:MAX_ERROR_DATA])
        return None

    def close(self) -> None:
        pass


def as_function(name: str, target: Function | Core) -> Function:
    """A `Function` as is; a plain callable taking a batch, in-process."""
    return target if isinstance(target, Function) else InProcess(name, target)
