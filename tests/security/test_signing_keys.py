"""Token signing keys: from IOTMON_JWT_KEYS (a Secret) or the data directory (owner-only), never the database;
a rotation keeps the old key's tokens valid until the key is removed."""

from __future__ import annotations

import stat

import httpx
import jwt
import psycopg
import pytest

from iotmon.adapters import signing_keys
from tests.support.auth import PASSWORD, ensure_user
from tests.support.service import error_of, running_system

OLD, NEW = "old:" + "o" * 48, "new:" + "n" * 48


def login(base: str) -> dict[str, str]:
    answer = httpx.post(f"{base}/api/auth/login", json={"username": "kim", "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['data']['token']}"}


def test_a_rotation_accepts_the_old_key_s_tokens_until_it_is_removed(database_url, redis_url, tmp_path):
    ensure_user(database_url, "kim", "viewer")
    with running_system(database_url, redis_url, tmp_path / "1", anonymous_read=False, jwt_keys=OLD) as before:
        old_token = login(before.url)
    with running_system(
        database_url, redis_url, tmp_path / "2", anonymous_read=False, jwt_keys=f"{NEW},{OLD}"
    ) as rotating:
        assert httpx.get(f"{rotating.url}/api/devices", headers=old_token).status_code == 200
        new_token = login(rotating.url)
        assert signing_keys.from_setting(NEW).current == "new"
        assert jwt.get_unverified_header(new_token["Authorization"][7:])["kid"] == "new"
    with running_system(database_url, redis_url, tmp_path / "3", anonymous_read=False, jwt_keys=NEW) as after:
        refused = httpx.get(f"{after.url}/api/devices", headers=old_token)
        assert "no longer accepted" in error_of(refused, 401, "INVALID_TOKEN")["message"]
        assert httpx.get(f"{after.url}/api/devices", headers=new_token).status_code == 200


@pytest.mark.parametrize("setting", ["", "short:abc", f"{OLD},{OLD}", "nokid"])
def test_bad_key_settings_are_refused_with_the_reason(setting):
    with pytest.raises(ValueError, match="IOTMON_JWT_KEYS"):
        signing_keys.from_setting(setting)


def test_embedded_keys_live_in_the_data_directory_readable_by_the_owner_only(tmp_path):
    keys = signing_keys.from_data_dir(tmp_path)
    path = tmp_path / signing_keys.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing_keys.from_data_dir(tmp_path) == keys  # the same key at the next start
    new = signing_keys.rotate(tmp_path)
    rotated = signing_keys.from_data_dir(tmp_path)
    assert rotated.current == new and keys.current in rotated.secrets
    assert signing_keys.retire(tmp_path) == [keys.current]
    assert list(signing_keys.from_data_dir(tmp_path).secrets) == [new]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        signing_keys.from_data_dir(tmp_path)


def test_no_key_is_kept_in_the_database(url, database_url):
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM service_settings WHERE name = 'jwt_signing_key'").fetchone() == (0,)
