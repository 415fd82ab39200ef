"""A real Mosquitto broker (Debian's `mosquitto`, installed by `make test`) on loopback, started and stopped here.

Two listeners: plain MQTT for anyone, and TLS (a self-signed certificate made with openssl) that needs a
username and password. Persistence is on, so a restart keeps the sessions and their queued messages, and the
broker lets a client have many QoS 1 messages unacknowledged and queued (the bridge acknowledges in batches).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.kafka_broker import free_port

USERNAME, PASSWORD = "bridge", "bridge-secret"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost and its key."""
    cert, key = directory / "broker.crt", directory / "broker.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Mosquitto:
    def __init__(self, directory: Path) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
        self.directory = directory
        self.port, self.tls_port = free_port(), free_port()
        self.cert, key = make_certificate(directory)
        passwords = directory / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(passwords), USERNAME, PASSWORD], check=True, capture_output=True
        )
        (directory / "data").mkdir(exist_ok=True)
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"""user root
per_listener_settings true
persistence true
persistence_location {directory / "data"}/
autosave_interval 1
max_inflight_messages 0
max_queued_messages 0
log_dest file {directory / "mosquitto.log"}
listener {self.port} 127.0.0.1
allow_anonymous true
listener {self.tls_port} 127.0.0.1
allow_anonymous false
password_file {passwords}
certfile {self.cert}
keyfile {key}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        for port in (self.port, self.tls_port):
            while True:
                assert self.process.poll() is None, f"mosquitto exited: {self.log()[-2000:]}"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"mosquitto does not listen on {port}: {self.log()[-2000:]}"
                    time.sleep(0.05)
        return self

    def stop(self) -> None:
        """A clean stop: the broker saves its sessions and queued messages first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""
