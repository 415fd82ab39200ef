"""The response envelopes every JSON answer of the API comes in (GET /api/health aside)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from iotmon.core.contracts.common import Contract, Timestamp


class Meta(Contract, forbid_unknown_fields=False):
    """Always the answer's time; each operation adds its own fields."""

    timestamp: Timestamp


class Envelope(Contract):
    success: Literal[True]
    data: Annotated[Any, msgspec.Meta(description="The answer (see each operation).")]
    meta: Meta


class ErrorBody(Contract):
    code: Annotated[str, msgspec.Meta(description="Machine-readable: VALIDATION_ERROR, DEVICE_NOT_FOUND, …")]
    message: str
    details: Annotated[Any, msgspec.Meta(description="Any JSON: the offending fields, the allowed values, …")]


class ErrorEnvelope(Contract):
    success: Literal[False]
    error: ErrorBody
