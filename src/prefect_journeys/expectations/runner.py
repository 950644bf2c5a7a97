"""Run a Great Expectations 1.x suite over a pandas batch and say which rows failed why.

INTERFACE (agreed between sources/, engine/ and expectations/; the bodies are being written).
Great Expectations is imported lazily, inside these functions (it takes seconds to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class SuiteError(Exception):
    """A suite file that cannot be used: the message names the file and what is wrong."""


@dataclass(frozen=True)
class ExpectationResult:
    label: str  # e.g. "email matches regex ^...$" — readable, used as the quarantine reason
    expectation_type: str
    column: str | None
    success: bool
    unexpected_count: int
    counts_toward_threshold: bool = True  # meta.counts_toward_threshold in the suite


@dataclass
class ValidationOutcome:
    suite: str
    rows: int
    failures: dict[int, list[str]] = field(default_factory=dict)  # row position → labels
    counted: set[int] = field(default_factory=set)  # positions failing a counted expectation
    results: list[ExpectationResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_rows(self) -> int:
        return len(self.failures)

    @property
    def fraction(self) -> float:
        return len(self.counted) / self.rows if self.rows else 0.0

    def passed(self, threshold: float) -> bool:
        return self.fraction <= threshold


def load_suite(name: str, project_root: Path | None = None) -> Any:
    """The suite ``<project_root>/expectations/<name>.json``, else the packaged default."""
    raise NotImplementedError


def validate(
    suite_name: str,
    frame: pd.DataFrame,
    *,
    project_root: Path | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> ValidationOutcome:
    """Validate ``frame`` (positional rows 0..n-1) against the named suite."""
    raise NotImplementedError
