"""The building blocks of a config section, shared by the core's sections and the adapters'.

An adapter declares its own ``[<name>]`` section with these (``settings_schema``), and
connector/config.py assembles the whole file from the core's sections plus every registered
adapter's, so a new provider adds its keys without touching the core. This module imports nothing
of the connector but its errors, so adapters and config.py can both use it without a circle.
"""

from __future__ import annotations

import contextlib
import re
from datetime import time
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, post_load
from marshmallow import fields as mf

__all__ = ["Duration", "Section", "TimeOfDay", "parse_duration", "url_field"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | int | float) -> float:
    """``"72h"`` → 259200.0; plain numbers are seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 72h, 2d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Duration(mf.Field):
    """A duration written as ``15m`` / ``72h`` / seconds; loads to seconds (float)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class TimeOfDay(mf.Field):
    """A local time written ``HH:MM`` with ASCII digits (``08:00``); loads to ``datetime.time``."""

    _FORM = re.compile(r"[0-9]{2}:[0-9]{2}")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if isinstance(value, time):  # a TOML local time (08:00:00)
            return value
        if isinstance(value, str) and self._FORM.fullmatch(value):
            with contextlib.suppress(ValueError):
                return time.fromisoformat(value)
        raise ValidationError("not a time of day: write HH:MM, e.g. 08:00")


def url_field() -> mf.Url:
    return mf.Url(require_tld=False, schemes={"http", "https"})


class Section(Schema):
    """One ``[section]`` of the file: unknown keys are errors; loads to ``settings_class``.

    List fields load as tuples, so the settings objects stay hashable and frozen.
    """

    class Meta:
        unknown = RAISE

    settings_class: type = object

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        for key, value in data.items():
            if isinstance(value, list):
                data[key] = tuple(value)
        return self.settings_class(**data)
