"""Reads one fact from a GGUF file's header: the context length the weights were trained for.

Why here and hand-written: the registry gives the bundled model a `claimed_context` on every load, and loading the
weights through llama.cpp (or the `gguf` package's reader, which maps and parses all ~50k tokenizer strings) costs
0.1-0.2 s. The header's key/value section is read sequentially and the scan stops at `<arch>.context_length`,
which llama.cpp's converters write before the tokenizer arrays: a few kilobytes, well under a millisecond.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from glassboard.models.types import ConfigError

# GGUF value types (ggml's gguf.h): fixed-size scalars by byte size; 8 = string, 9 = array.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_INT_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 10: "<Q", 11: "<q"}
_STRING, _ARRAY = 8, 9


def _read(handle: BinaryIO, size: int, path: Path) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ConfigError(f"{path}: truncated GGUF header")
    return data


def _string(handle: BinaryIO, path: Path) -> str:
    (length,) = struct.unpack("<Q", _read(handle, 8, path))
    return _read(handle, length, path).decode("utf-8", "replace")


def _skip(handle: BinaryIO, kind: int, path: Path) -> None:
    if kind in _SCALAR_SIZES:
        handle.seek(_SCALAR_SIZES[kind], 1)
    elif kind == _STRING:
        (length,) = struct.unpack("<Q", _read(handle, 8, path))
        handle.seek(length, 1)
    elif kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", _read(handle, 12, path))
        if item_kind in _SCALAR_SIZES:
            handle.seek(_SCALAR_SIZES[item_kind] * count, 1)
        else:
            for _ in range(count):
                _skip(handle, item_kind, path)
    else:
        raise ConfigError(f"{path}: unknown GGUF value type {kind}")


def gguf_context_length(path: Path) -> int:
    """`<architecture>.context_length` from a GGUF file (ConfigError naming the file when absent or malformed)."""
    try:
        with path.open("rb") as handle:
            if _read(handle, 4, path) != b"GGUF":
                raise ConfigError(f"{path}: not a GGUF file")
            (version,) = struct.unpack("<I", _read(handle, 4, path))
            if version < 2:
                raise ConfigError(f"{path}: GGUF version {version} is not supported (2 or later)")
            _, kv_count = struct.unpack("<QQ", _read(handle, 16, path))
            architecture = None
            for _ in range(kv_count):
                key = _string(handle, path)
                (kind,) = struct.unpack("<I", _read(handle, 4, path))
                if key == "general.architecture" and kind == _STRING:
                    architecture = _string(handle, path)
                elif architecture and key == f"{architecture}.context_length" and kind in _INT_FORMATS:
                    fmt = _INT_FORMATS[kind]
                    (value,) = struct.unpack(fmt, _read(handle, struct.calcsize(fmt), path))
                    return int(value)
                else:
                    _skip(handle, kind, path)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    raise ConfigError(f"{path}: the GGUF header has no <architecture>.context_length")
