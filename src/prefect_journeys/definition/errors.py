"""Problems found in a project's files, each pointing at a file, a line and (when known) a step."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a journey, template or segment file.

    ``str(problem)`` reads like a compiler message::

        journeys/welcome.yaml:12: step 'offer': split weights sum to 90, not 100 (hint: ...)
    """

    file: str
    line: int | None
    step: str | None
    message: str
    hint: str | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.step is not None:
            text += f"step '{self.step}': "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class JourneyInvalid(Exception):
    """A journey (or what it refers to) has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))
