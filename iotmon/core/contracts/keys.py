"""Gateway API keys: what an admin sends to make one and what the API shows of them (never the secret twice)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from iotmon.core.contracts.common import Body, Contract, DeviceId, MetaFields, Timestamp
from iotmon.core.contracts.devices import Label


class NewApiKey(Body):
    """The body of POST /api/keys. No devices and no locations: the key writes every device."""

    name: Label
    devices: Annotated[list[DeviceId], msgspec.Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    locations: Annotated[list[Label], msgspec.Meta(max_length=1_000)] = msgspec.field(default_factory=list)
    auto_register: Annotated[
        bool, msgspec.Meta(description="Whether readings of devices not yet registered register them.")
    ] = False


class ApiKey(Contract):
    id: int
    name: str
    hint: Annotated[str, msgspec.Meta(description="The key's first characters, to tell it from others.")]
    devices: list[str]
    locations: list[str]
    auto_register: bool
    created_by: str
    created_at: Timestamp
    last_used_at: Annotated[Timestamp | None, msgspec.Meta(description="Updated at most once a minute.")]
    revoked_at: Timestamp | None


class NewApiKeyCreated(Contract):
    key: ApiKey
    secret: Annotated[
        str,
        msgspec.Meta(
            description="The key itself, shown this once only: send it as `Authorization: Bearer <secret>` or"
            " `X-API-Key: <secret>`."
        ),
    ]


class ApiKeyList(Contract):
    keys: list[ApiKey]


class ApiKeyListMeta(MetaFields):
    total: int
    active: int
