"""The dependency ranges of pyproject.toml admit only what the suite has passed on.

``.ci/tested-versions.toml`` records, per dependency, the oldest and the newest release the whole
suite passed on (the newest is what ``.ci/run`` installs on a fresh machine; the oldest set is run
by ``.ci/run-oldest``). Every range must run from the oldest to just below the minor release after
the newest, so a new upstream release is not admitted until the suite has passed on it and the
record says so; and the versions installed now must lie inside the record.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TESTED = tomllib.loads((ROOT / ".ci" / "tested-versions.toml").read_text(encoding="utf-8"))
#: the extras the suite runs with (CI installs ".[dev]"); others are checked by the scripts that use them
SUITE_EXTRAS = ("dev",)


def _requirements() -> list[Requirement]:
    found = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    for extra in SUITE_EXTRAS:
        found += [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"][extra]]
    return [r for r in found if r.marker is None or r.marker.evaluate()]


REQUIREMENTS = _requirements()


def _next_minor(version: str) -> Version:
    v = Version(version)
    return Version(f"{v.major}.{v.minor + 1}")


def test_every_dependency_of_the_suite_has_a_tested_record():
    names = {r.name for r in REQUIREMENTS}
    assert names == set(TESTED["oldest"]) == set(TESTED["newest"]), (
        "pyproject.toml's dependencies and .ci/tested-versions.toml disagree: "
        f"not recorded {sorted(names - set(TESTED['newest']))}, recorded but not declared "
        f"{sorted(set(TESTED['newest']) - names)}"
    )


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=lambda r: r.name)
def test_a_range_runs_from_the_oldest_tested_release_to_below_the_next_minor_of_the_newest(requirement):
    oldest, newest = TESTED["oldest"][requirement.name], TESTED["newest"][requirement.name]
    lower = [s for s in requirement.specifier if s.operator == ">="]
    upper = [s for s in requirement.specifier if s.operator == "<"]
    expected = f">={oldest},<{_next_minor(newest)}"
    assert len(lower) == 1 and len(upper) == 1 and len(requirement.specifier) == 2, (
        f"{requirement}: expected exactly a lower and an upper bound, {requirement.name}{expected}"
    )
    assert Version(lower[0].version) == Version(oldest), (
        f"{requirement}: its lower bound is not the oldest release the suite passed on ({oldest}); "
        f"expected {requirement.name}{expected}, or run .ci/run-oldest on the new bound and record it"
    )
    assert Version(upper[0].version) == _next_minor(newest), (
        f"{requirement}: its upper bound admits minor releases the suite has not passed on (newest "
        f"tested {newest}); expected {requirement.name}{expected}, or run the suite on the new "
        f"release and record it in .ci/tested-versions.toml"
    )


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=lambda r: r.name)
def test_the_installed_release_is_inside_the_tested_record(requirement):
    installed = Version(metadata.version(requirement.name))
    oldest, newest = Version(TESTED["oldest"][requirement.name]), TESTED["newest"][requirement.name]
    assert installed in requirement.specifier, f"{requirement.name} {installed} is outside {requirement}"
    assert oldest <= installed < _next_minor(newest), (
        f"{requirement.name} {installed} is installed, but the suite is recorded as passing on "
        f"{oldest} .. {newest} only; record this run in .ci/tested-versions.toml"
    )
