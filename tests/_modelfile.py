"""Editing the JSON document inside a model file's safetensors header (test helper)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from dagmm.persistence import _sha256, document_sha256


def read_document(raw: bytes) -> dict[str, Any]:
    """The JSON document of a model file's bytes."""
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(json.loads(raw[8 : 8 + length])["__metadata__"]["document"])


def rewrite_document(raw: bytes, edit: Callable[[dict, dict], None]) -> bytes:
    """The model file with ``edit(header, document)`` applied in place; tensors untouched.

    A careful forger: the document's checksum is rewritten to match (where the
    file has one and ``edit`` left it), so what is tested is the reader's check
    of the document's content.
    """
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    doc = json.loads(header["__metadata__"]["document"])
    edit(header, doc)
    meta = header["__metadata__"]
    listed = meta.get("document_sha256")
    was_matching = listed == document_sha256(meta["document"])
    meta["document"] = json.dumps(doc)
    if was_matching:
        meta["document_sha256"] = document_sha256(meta["document"])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + length :]


def forge_tensors(raw: bytes, edit: Callable[[dict[str, torch.Tensor]], None]) -> bytes:
    """A careful forger: the model file with ``edit(tensors)`` applied, and the
    document's checksums, dtypes and shapes rewritten to match."""
    doc = read_document(raw)
    tensors = dict(load_safetensors(raw))
    edit(tensors)
    doc["tensors"] = {
        name: {"dtype": str(t.dtype)[6:], "shape": list(t.shape), "sha256": _sha256(t)}
        for name, t in tensors.items()
    }
    meta = {
        "format": "dagmm",
        "format_version": str(doc["format_version"]),
        "document": json.dumps(doc),
    }
    meta["document_sha256"] = document_sha256(meta["document"])
    return save_safetensors(tensors, metadata=meta)
