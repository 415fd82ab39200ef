"""How a function answers Knative over HTTP (functions-framework, one event per request).

- 2xx: handled. A source discards any reply, so the functions send none; what
  they pass on, they produce to Kafka themselves.
- 400: the event can never be handled (the core raised `Rejected`, or the
  request is not a readable CloudEvent). Knative dead-letters it without
  retrying. (ingest does not get here for bad readings: it dead-letters them
  itself, with the reason, and answers 2xx.)
- 500 (a body shorter than its Content-Length, or any other exception, with the error as the body, through
  functions-framework's crash handler): a transient failure. Knative retries
  with backoff, then dead-letters with the body as knativeerrordata.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import flask
import functions_framework
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent
from werkzeug.exceptions import BadRequest, InternalServerError

from eventing.delivery import Rejected
from iotmon.adapters import gc_tuning

log = logging.getLogger(__name__)


def _refuse(reason: str) -> flask.Response:
    return flask.Response(reason, status=400, mimetype="text/plain")


def _whole_body() -> None:
    """500 for a body shorter than its Content-Length: the sender died mid-request (a router killed), and
    the server passes on what arrived. A retry sends it whole; handled, it would be a "bad" reading."""
    expected, got = flask.request.content_length, len(flask.request.get_data(cache=True))
    if expected is not None and got < expected:
        raise InternalServerError(f"the request body was cut short ({got} of {expected} bytes); send it again")


def _data_as_sent(event: CloudEvent) -> CloudEvent:
    """In binary content mode (how a KafkaSource sends) the body is the event's data: hand it on as the bytes
    it was, as the in-process router does, so the function decodes and validates it once with its contract
    (msgspec, from bytes) rather than converting the objects functions-framework's json.loads made."""
    if "ce-specversion" in flask.request.headers:
        event.data = flask.request.get_data(cache=True)
    return event


def entry_point(core: Callable[[], Callable[[Sequence[CloudEvent]], object]]) -> Callable[[CloudEvent], None]:
    """The functions-framework CloudEvent entry point `handle` for a function whose core `core()` returns."""
    # Registered on the app that is loading this function (a no-op when imported outside functions-framework).
    functions_framework.errorhandler(GenericException)(lambda error: _refuse(f"not a readable CloudEvent: {error}"))

    first = threading.Lock()  # the server's threads build the core (and its connections) once

    def handle(event: CloudEvent) -> None:
        _whole_body()
        with first:
            function = core()
            gc_tuning.tune()  # a server that handles events (not a process that only imports this)
        try:
            function([_data_as_sent(event)])
        except Rejected as rejected:
            log.warning("event refused", extra={"id": event["id"], "type": event["type"], "reason": str(rejected)})
            raise BadRequest(response=_refuse(str(rejected))) from None
        except Exception as error:
            log.exception("event failed; the source will retry it", extra={"id": event["id"], "type": event["type"]})
            raise InternalServerError(f"{type(error).__name__}: {error}") from error

    return functions_framework.cloud_event(handle)
