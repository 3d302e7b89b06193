"""JSON straight from NumPy (orjson): arrays are written without a detour through Python lists
of floats, and non-finite numbers become ``null`` (SPEC.md §8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):  # non-contiguous or non-native arrays
        return np.ascontiguousarray(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(document: Any) -> bytes:
    """Serialise a result document (or any JSON-ready value with NumPy arrays)."""
    return orjson.dumps(document, default=_default, option=_OPTIONS)


def canonical(value: Any) -> bytes:
    """One text for equal JSON-like values (keys sorted; anything else by its repr): a key for
    caches and groups."""
    return orjson.dumps(value, default=repr, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
