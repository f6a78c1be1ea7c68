"""Strict readers for run-time switches and for the JSON bodies the stand-ins receive.

A switch sent with the wrong type (``"latency_ms": "fast"``, ``true`` for a number, NaN)
is refused with a message that names it, never coerced: a test that thinks it turned on
30 % errors must not silently run with none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

Reader = Callable[[str, Any], Any]


class SwitchError(ValueError):
    """A switch or request body that cannot be used; ``str(exc)`` is the message to show."""


def json_loads(raw: bytes) -> Any:
    """Parse JSON strictly: NaN/Infinity, bad UTF-8 and absurd nesting are errors."""

    def refuse_constant(name: str) -> Any:
        raise SwitchError(f"{name} is not valid JSON")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
    except UnicodeDecodeError:
        raise SwitchError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SwitchError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise SwitchError("invalid JSON: nested too deeply") from None


def integer(low: int, high: int) -> Reader:
    def read(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SwitchError(f"{name} must be a whole number")
        if not low <= value <= high:
            raise SwitchError(f"{name} must be between {low} and {high}")
        return value

    return read


def rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SwitchError(f"{name} must be a number between 0 and 1")
    if not 0 <= value <= 1:
        raise SwitchError(f"{name} must be between 0 and 1")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SwitchError(f"{name} must be true or false")
    return value


def choice(options: Iterable[str | None]) -> Reader:
    allowed = tuple(options)

    def read(name: str, value: Any) -> str | None:
        if value not in allowed or (value is not None and not isinstance(value, str)):
            shown = ", ".join("null" if option is None else option for option in allowed)
            raise SwitchError(f"{name} must be one of: {shown}")
        return value

    return read


def integers(count: int, low: int, high: int) -> Reader:
    item = integer(low, high)

    def read(name: str, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or len(value) != count:
            raise SwitchError(f"{name} must be a list of {count} whole numbers")
        return tuple(item(name, element) for element in value)

    return read


def names(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(element, str) for element in value) or len(value) > 50:
        raise SwitchError(f"{name} must be a list of method names")
    return tuple(value)


def read_switches(readers: dict[str, Reader], values: dict[str, Any]) -> dict[str, Any]:
    """Validate every switch in ``values`` before any is applied, so a bad one changes nothing."""
    unknown = sorted(set(values) - set(readers))
    if unknown:
        raise SwitchError(f"unknown switch {unknown[0]!r}; known: {', '.join(sorted(readers))}")
    return {name: readers[name](name, value) for name, value in values.items()}
