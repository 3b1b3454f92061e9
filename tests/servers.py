"""Starting real services on 127.0.0.1 for tests: a free port, and waiting until one answers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float, log: str = "") -> None:
    """Poll ``url`` until it answers; fail the test if the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{url} did not come up within {seconds:.0f} s. {log}")
            time.sleep(0.25)


def _postgres_bin(name: str) -> str:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail("PostgreSQL is not installed: `apt-get install postgresql` (make test does it)")
    return found[-1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's package), as a SQLAlchemy URL.

    PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user the package
    creates, in a folder of its own.
    """
    import os
    import pwd
    import shutil
    import tempfile

    as_root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="cqa-pg-"))
    prefix: list[str] = []
    if as_root:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    log = folder / "server.log"
    try:
        subprocess.run(
            [*prefix, _postgres_bin("initdb"), "-D", str(data), "-U", "cqa", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                _postgres_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=on",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://cqa@127.0.0.1:{port}/postgres"
    finally:
        if data.exists():
            subprocess.run(
                [*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)
