"""Starting a real service on 127.0.0.1 for a benchmark (not a benchmark itself)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(command: list[str], ready: str, *, what: str, seconds: float = 120, **popen: Any) -> Iterator[None]:
    """Run ``command`` until the block ends, once ``ready`` (a URL) answers; SystemExit naming
    ``what`` if it dies or does not answer within ``seconds``."""
    out: IO[bytes] | int = popen.pop("stdout", subprocess.DEVNULL)
    proc = subprocess.Popen(command, stdout=out, stderr=popen.pop("stderr", out), **popen)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(ready, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{what} did not start") from None
                time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)
