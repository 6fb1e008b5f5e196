"""A small validator for Google API Discovery documents, for the MDM export tests.

A discovery document (``androidmanagement.v1.json``) describes each resource in ``schemas``
with ``type``, ``properties``, ``items``, ``additionalProperties``, ``$ref``, ``enum`` and
``format``, and marks retired parts with ``deprecated: true`` (on a property) or
``enumDeprecated`` (a list of booleans parallel to ``enum``). :class:`DiscoveryValidator` walks
a value against one schema and reports every problem as ``path: reason``:

- a field the schema does not know (a typo, or a field only an older API revision had);
- a deprecated field or enum value;
- a field the API sets itself (its description says it is read-only or output only);
- a wrong JSON type, an enum value outside the list, an ``int32`` out of range, an ``int64``
  that is not a decimal string, a ``google-duration`` that is not ``<seconds>s``.

The document lives at ``<repo root>/../shared/schemas/androidmanagement.v1.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "shared" / "schemas"
ANDROID_DISCOVERY = SCHEMAS_DIR / "androidmanagement.v1.json"

_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_INT64 = re.compile(r"^-?\d{1,19}$")
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_READ_ONLY = re.compile(r"\b(read-only|output only)\b", re.IGNORECASE)


def load_android() -> dict[str, Any]:
    with ANDROID_DISCOVERY.open(encoding="utf-8") as fh:
        document: dict[str, Any] = json.load(fh)
    return document


class DiscoveryValidator:
    def __init__(self, document: Mapping[str, Any], *, allow_read_only: bool = False) -> None:
        self.schemas: Mapping[str, Any] = document["schemas"]
        self.allow_read_only = allow_read_only

    def errors(self, value: Any, schema_id: str) -> list[str]:
        """Every problem of ``value`` as an instance of ``schemas[schema_id]``."""
        out: list[str] = []
        self._walk(value, self.schemas[schema_id], schema_id, out)
        return out

    def deprecated_properties(self, schema_id: str) -> frozenset[str]:
        props = self.schemas[schema_id].get("properties", {})
        return frozenset(k for k, v in props.items() if v.get("deprecated"))

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
            seen += 1
            assert seen < 50, "reference loop"
        return schema

    def _walk(self, value: Any, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
        schema = self._resolve(schema)
        kind = schema.get("type", "any")
        if kind == "object":
            self._object(value, schema, path, out)
        elif kind == "array":
            if not isinstance(value, list):
                out.append(f"{path}: expected an array, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                self._walk(item, schema.get("items", {}), f"{path}[{i}]", out)
        elif kind == "string":
            self._string(value, schema, path, out)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                out.append(f"{path}: expected an integer, got {type(value).__name__}")
                return
            low, high = _UINT32 if schema.get("format") == "uint32" else _INT32
            if schema.get("format") in ("int32", "uint32") and not low <= value <= high:
                out.append(f"{path}: {value} is outside the {schema['format']} range")
        elif kind == "number":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                out.append(f"{path}: expected a number, got {type(value).__name__}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                out.append(f"{path}: expected a boolean, got {type(value).__name__}")
        elif kind != "any":
            out.append(f"{path}: the schema has an unknown type {kind!r}")

    def _object(self, value: Any, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        props: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}"
            if not isinstance(key, str):
                out.append(f"{where}: keys must be strings")
            elif key in props:
                sub = props[key]
                if sub.get("deprecated"):
                    out.append(f"{where}: deprecated field")
                if not self.allow_read_only and _READ_ONLY.search(sub.get("description", "")):
                    out.append(f"{where}: read-only field (the API sets it)")
                self._walk(item, sub, where, out)
            elif extra is not None:
                self._walk(item, extra, where, out)
            elif props:
                out.append(f"{where}: unknown field")
            # an object schema without properties is free-form (e.g. openNetworkConfiguration)

    def _string(self, value: Any, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
        if not isinstance(value, str):
            out.append(f"{path}: expected a string, got {type(value).__name__}")
            return
        enum: list[str] | None = schema.get("enum")
        if enum is not None:
            if value not in enum:
                out.append(f"{path}: {value!r} is not one of {enum}")
            else:
                flags: list[bool] = schema.get("enumDeprecated", [])
                index = enum.index(value)
                if index < len(flags) and flags[index]:
                    out.append(f"{path}: {value!r} is a deprecated value")
        fmt = schema.get("format")
        if fmt in ("int64", "uint64") and not _INT64.match(value):
            out.append(f"{path}: {value!r} is not a decimal {fmt}")
        if fmt == "google-duration" and not _DURATION.match(value):
            out.append(f"{path}: {value!r} is not a duration such as '3.5s'")
