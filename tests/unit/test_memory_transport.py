"""The in-process transport keeps Kafka's contract: partitions by key, groups, at-least-once."""

import pytest

from eventing.memory import MemoryTransport
from tests.support.transport_contract import TransportContract, topic

__all__ = ["topic"]  # the contract's fixture


class TestMemoryTransport(TransportContract):
    @pytest.fixture
    def transport(self) -> MemoryTransport:
        return MemoryTransport(partitions=4)
