"""What a channel reports when it could not deliver."""

from __future__ import annotations


class DeliveryError(Exception):
    """A notification that did not go out.

    `retryable` says whether trying again later can help (server down, timeout,
    5xx, 429) or not (a refused recipient, a 4xx: a configuration error that
    waits for a person).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
