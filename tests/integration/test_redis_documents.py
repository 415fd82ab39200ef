"""Documents written many to one command (iotmon.adapters.redis.documents), on a real Redis."""

from __future__ import annotations

from iotmon.adapters.redis.documents import Documents


def test_every_document_is_set_with_its_own_expiry_in_one_command(redis):
    pipe = redis.pipeline(transaction=False)
    Documents(redis).set_all(pipe, [("doc:a", b'{"a":1}', 60), ("doc:b", b'{"b":2}', 3600)])
    Documents(redis).set_all(pipe, [])  # nothing to set: no command
    assert len(pipe) == 1
    pipe.execute()
    assert redis.mget("doc:a", "doc:b") == [b'{"a":1}', b'{"b":2}']
    assert 0 < redis.ttl("doc:a") <= 60 and 3500 < redis.ttl("doc:b") <= 3600
