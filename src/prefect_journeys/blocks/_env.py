"""Building a credentials block from environment variables, with errors that name variables only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from prefect_journeys.connectors.base import ChannelConfigError

T = TypeVar("T")


def from_environ(
    cls: type[T],
    environ: Mapping[str, str],
    variables: Mapping[str, str],
    required: tuple[str, ...],
    *,
    what: str,
) -> T:
    """``cls(**fields)`` from ``variables`` (field → variable name); empty counts as unset.

    Raises :class:`ChannelConfigError` naming the missing or invalid variables, never a value
    (pydantic's own messages carry the input, so only the reason is kept).
    """
    values: dict[str, Any] = {}
    for field_name, variable in variables.items():
        raw = environ.get(variable, "").strip()
        if raw:
            values[field_name] = raw
    missing = [variables[f] for f in required if f not in values]
    if missing:
        raise ChannelConfigError(
            f"{what} credentials: environment variable(s) {', '.join(missing)} not set"
        )
    try:
        return cls(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = error["loc"][0] if error["loc"] else ""
            variable = variables.get(str(location), str(location) or "(value)")
            reason = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable}: {reason}")
        raise ChannelConfigError(f"{what} credentials: " + "; ".join(problems)) from None
