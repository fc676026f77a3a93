"""Print the requirements of halo's Python 3.12 CI leg, one a line.

They are the ``dependencies`` and the ``test`` extra of pyproject.toml (with the extras it names), less torch, with
spatialdata from its newest line. The leg runs without torch: PyPI's torch for 3.12 is a several-GB CUDA download,
and the local CPU wheel is for 3.11 only (docs/contributing.md). Reading pyproject.toml keeps one list, not two.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

#: Left out on the 3.12 leg. No other requirement pulls torch in (checked with ``pip install --dry-run --report``).
WITHOUT = {"torch"}
#: spatialdata 0.8 needs Python >= 3.12: this leg exists to test halo against it.
REPLACED = {"spatialdata": "spatialdata>=0.8"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements(pyproject: Path) -> list[str]:
    """The requirements of ``dependencies`` and of the ``test`` extra, the extras they name expanded."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    todo, seen, out = [*project["dependencies"], f"{project['name']}[test]"], set(), []
    while todo:
        requirement = todo.pop(0)
        name = _name(requirement)
        if name == project["name"]:  # "halo[analysis]" in the test extra: the requirements of those extras
            named = re.search(r"\[(.*)\]", requirement).group(1).split(",")
            todo.extend(r for extra in named for r in extras[extra.strip()])
        elif name not in WITHOUT and name not in seen:
            seen.add(name)
            out.append(REPLACED.get(name, requirement))
    return out


if __name__ == "__main__":
    print("\n".join(requirements(Path(__file__).resolve().parents[1] / "pyproject.toml")))
