"""Room versions 6 and later accept only canonical-JSON values in events: integers within
±(2**53 - 1) and no floating-point numbers. Pure."""

from __future__ import annotations

from tumar.policy.decision import Decision

MAX_SAFE_INTEGER = 2**53 - 1


def check_canonical_values(value: object, path: str = "content") -> Decision:
    """Allow only values that canonical JSON can represent exactly."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return Decision.deny(f"{where}: integers must be within ±(2**53 - 1).")
        elif isinstance(item, float):
            return Decision.deny(f"{where}: floating-point numbers are not allowed in events.")
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return Decision.allow()
