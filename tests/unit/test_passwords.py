import pytest

from iotmon.core.passwords import weakness


@pytest.mark.parametrize("password", ["x", "password1234", "admin1234567", "qwertyuiop", "iotmon-admin"])
def test_weak_passwords_are_named(password):
    assert "choose" in (weakness(password, "admin") or "")


@pytest.mark.parametrize("password", ["correct horse battery", "Tr0ub4dor&3-mill", "plated-ferry-comet-87"])
def test_strong_passwords_pass(password):
    assert weakness(password, "admin") is None


def test_a_password_made_of_the_username_is_weak():
    assert weakness("olivia.olivia", "olivia") is not None
