"""The base of every settings section: immutable, unknown keys refused, types strict (``true`` is no number
and ``"7"`` no integer; an integer is a valid float), every problem reported together."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from condpt_dagster.core.hashing import config_version


class SettingsError(Exception):
    """Invalid settings; the message names the file, section and key of every problem.

    Not a ValueError on purpose: pydantic passes it through validators unchanged.
    """


def _describe(error: dict[str, Any], section: str, fields: list[str]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(section)"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][0]), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
        return f"[{section}] {key}: unknown setting{hint}"
    return f"[{section}] {key}: {error['msg']} (got {error['input']!r})"


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class StrictSettings(BaseModel):
    """Immutable, unknown keys refused, no type coercion; TOML arrays become the tuples settings hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _arrays_as_tuples(cls, value: Any) -> Any:
        return _tuples(value)


class Section(StrictSettings):
    """A settings section: strict (see StrictSettings), every problem reported together."""

    SECTION: ClassVar[str] = ""
    UNVERSIONED: ClassVar[frozenset[str]] = frozenset()  # settings that do not change the output

    @model_validator(mode="wrap")
    @classmethod
    def _collect_problems(cls, data: Any, handler: Any) -> Any:
        problems: list[str] = []
        try:
            model = handler(data)
        except ValidationError as exc:
            problems += [_describe(e, cls.SECTION, list(cls.model_fields)) for e in exc.errors()]
            model = None
        defaults = {k: f.get_default(call_default_factory=True) for k, f in cls.model_fields.items()}
        raw = {**defaults, **(data if isinstance(data, dict) else {})}
        problems += [f"[{cls.SECTION}] {p}" for p in cls.cross_checks(raw)]
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        return model

    @classmethod
    def cross_checks(cls, values: dict[str, Any]) -> list[str]:
        """Problems that involve several settings (raw values, defaults filled in)."""
        return []

    def output_settings(self) -> dict[str, Any]:
        """The settings that determine the stage's output (JSON values)."""
        return self.model_dump(mode="json", exclude=set(self.UNVERSIONED))

    def version(self, revision: str) -> str:
        """The code version of the stage these settings drive (``revision``: the stage's logic revision)."""
        return config_version(revision, self.output_settings())
