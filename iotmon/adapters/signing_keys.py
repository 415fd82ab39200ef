"""The keys that sign and check login tokens: from IOTMON_JWT_KEYS, or kept in the data directory.

IOTMON_JWT_KEYS is `<kid>:<secret>,<kid>:<secret>`: the first key signs new
tokens, every listed key is accepted, each token names its key (`kid` in its
header). That is how a key is rotated without logging anyone out: put the new
key first and keep the old one second until the last token it signed has
expired (IOTMON_TOKEN_TTL_S), then remove it. In a cluster the variable comes
from a Secret, so that every replica signs and checks alike.

Without the variable (one process, as `iotmon up` runs), the keys live in
`<data dir>/jwt-keys`, one `<kid> <secret>` per line, the signing key first;
the file is created on first start, readable by its owner only (0600), and a
file others can read is refused. The same rotation applies to it.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "jwt-keys"
MIN_SECRET_BYTES = 32  # HS256 keys shorter than the hash are guessable offline from one token


@dataclass(frozen=True)
class SigningKeys:
    current: str  # the kid that signs
    secrets: dict[str, str]  # kid → secret, every one accepted

    def secret(self, kid: str) -> str | None:
        return self.secrets.get(kid)


def from_setting(value: str) -> SigningKeys:
    """IOTMON_JWT_KEYS parsed; ValueError says what is wrong with it."""
    pairs = [item.strip().partition(":") for item in value.split(",") if item.strip()]
    return _keys([(kid.strip(), secret.strip()) for kid, _, secret in pairs], "IOTMON_JWT_KEYS")


def from_data_dir(data_dir: Path) -> SigningKeys:
    """The keys in `<data_dir>/jwt-keys`, created (0600) with a new key on first use."""
    path = data_dir / FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _create(path, f"{new_kid()} {secrets.token_urlsafe(48)}\n")
        log.info("a token signing key was made", extra={"path": str(path)})
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} can be read by others than its owner: run `chmod 600 {path}`")
    lines = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if any(len(parts) != 2 for parts in lines):
        raise ValueError(f"{path}: each line must be `<kid> <secret>`")
    return _keys([(kid, secret) for kid, secret in lines], str(path))


def load(setting: str | None, data_dir: Path) -> SigningKeys:
    return from_setting(setting) if setting else from_data_dir(data_dir)


def new_kid() -> str:
    return f"k{secrets.token_hex(4)}"


def _keys(pairs: list[tuple[str, str]], where: str) -> SigningKeys:
    if not pairs:
        raise ValueError(f"{where}: no key given (`<kid>:<secret>`, the signing key first)")
    for kid, secret in pairs:
        if not kid or len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"{where}: key {kid!r} needs a kid and a secret of at least {MIN_SECRET_BYTES} bytes")
    if len({kid for kid, _ in pairs}) != len(pairs):
        raise ValueError(f"{where}: a kid is listed twice")
    return SigningKeys(current=pairs[0][0], secrets=dict(pairs))


def _create(path: Path, text: str) -> None:
    """Written readable by the owner only from the first byte (no window where others could read it)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def rotate(data_dir: Path) -> str:
    """A new signing key first in `<data_dir>/jwt-keys`, the others kept (still accepted); its kid."""
    keys = from_data_dir(data_dir)
    kid = new_kid()
    _replace(data_dir / FILE_NAME, [(kid, secrets.token_urlsafe(48)), *keys.secrets.items()])
    return kid


def retire(data_dir: Path) -> list[str]:
    """Only the signing key kept in `<data_dir>/jwt-keys`; the kids removed (their tokens stop working)."""
    keys = from_data_dir(data_dir)
    _replace(data_dir / FILE_NAME, [(keys.current, keys.secrets[keys.current])])
    return [kid for kid in keys.secrets if kid != keys.current]


def _replace(path: Path, pairs: list[tuple[str, str]]) -> None:
    staged = path.with_name(f".{FILE_NAME}.{secrets.token_hex(4)}")
    _create(staged, "".join(f"{kid} {secret}\n" for kid, secret in pairs))
    os.replace(staged, path)
