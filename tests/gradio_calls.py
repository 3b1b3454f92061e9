"""Calling the chat UI's handlers over HTTP exactly as the page does: ``/gradio_api/queue/join``
with a ``fn_index`` and a session hash, then the result from ``/gradio_api/queue/data``."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


def fn_indexes(client: httpx.Client) -> dict[str, int]:
    """Each handler's api_name -> fn_index, from the page's config."""
    config = client.get("/config")
    assert config.status_code == 200, config.text
    return {d["api_name"]: int(d["id"]) for d in config.json()["dependencies"] if d.get("api_name")}


def join(
    client: httpx.Client, fn_index: int, data: list[Any], session_hash: str | None = None, event_data: Any = None
) -> httpx.Response:
    body = {
        "data": data,
        "fn_index": fn_index,
        "session_hash": session_hash or secrets.token_hex(6),
        "event_data": event_data,
        "trigger_id": None,
    }
    return client.post("/gradio_api/queue/join", json=body)


def ui_call(
    client: httpx.Client,
    name: str,
    data: list[Any],
    *,
    session_hash: str | None = None,
    event_data: Any = None,
) -> dict[str, Any]:
    """The ``process_completed`` message of one handler run (``output.data`` holds its outputs)."""
    session_hash = session_hash or secrets.token_hex(6)
    joined = join(client, fn_indexes(client)[name], data, session_hash, event_data)
    assert joined.status_code == 200, joined.text
    event_id = joined.json()["event_id"]
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}, timeout=120) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                return dict(message)
    raise AssertionError(f"{name}: the queue ended without a result")


def outputs(client: httpx.Client, name: str, data: list[Any], **kwargs: Any) -> list[Any]:
    """The handler's outputs (it must have succeeded)."""
    done = ui_call(client, name, data, **kwargs)
    assert done.get("success"), done
    return list(done["output"]["data"])
