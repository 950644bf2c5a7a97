"""Build throwaway projects: the fixture's templates and segments plus journeys from strings."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "welcome_project"

HEADER = """\
id: trial
entry: {event: signed_up}
steps:
"""


def make_project(tmp_path: Path, journeys: dict[str, str], **extra: dict[str, str]) -> Path:
    """A copy of the fixture project whose journeys/ holds only ``journeys`` (name → YAML)."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    shutil.rmtree(root / "journeys")
    (root / "journeys").mkdir()
    for name, text in journeys.items():
        (root / "journeys" / f"{name}.yaml").write_text(textwrap.dedent(text))
    for folder, files in extra.items():
        for name, text in files.items():
            (root / folder / f"{name}.yaml").write_text(textwrap.dedent(text))
    return root
