from iotmon.core.writers import Writer


def test_a_writer_without_scope_writes_every_device():
    assert Writer("operator").may_write("device-001", None)


def test_scope_by_device_or_location():
    gateway = Writer("line-1", devices=frozenset({"device-001"}), locations=frozenset({"assembly-line-1"}))
    assert gateway.may_write("device-001", "packaging")
    assert gateway.may_write("device-777", "assembly-line-1")
    assert not gateway.may_write("device-777", "packaging")
    assert not gateway.may_write("device-777", None)
