"""Reading a ``WS /ws`` socket in tests: JSON frames, and the replay up to ``ready``."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection


def receive_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    assert isinstance(message, dict)
    return message


def until_ready(ws: ClientConnection, timeout: float = 10) -> list[dict[str, Any]]:
    """The frames before the ``ready`` marker (the snapshot and the replay), consumed."""
    frames: list[dict[str, Any]] = []
    while (frame := receive_json(ws, timeout))["type"] != "ready":
        frames.append(frame)
    return frames
