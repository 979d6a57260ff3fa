"""Editing the JSON document inside a model file's safetensors header (test helper)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any


def read_document(raw: bytes) -> dict[str, Any]:
    """The JSON document of a model file's bytes."""
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(json.loads(raw[8 : 8 + length])["__metadata__"]["document"])


def rewrite_document(raw: bytes, edit: Callable[[dict, dict], None]) -> bytes:
    """The model file with ``edit(header, document)`` applied in place; tensors untouched."""
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    doc = json.loads(header["__metadata__"]["document"])
    edit(header, doc)
    header["__metadata__"]["document"] = json.dumps(doc)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + length :]
