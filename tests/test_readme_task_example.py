"""README.md's "Writing a task" runs as written, and its example task is examples/mytasks.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Writing a task"


def _section_code() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n{SECTION}\n")
    end = readme.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", readme[start:end], flags=re.S)


def test_the_sections_example_task_is_examples_mytasks_verbatim():
    blocks = _section_code()
    assert len(blocks) == 3
    source = (ROOT / "examples" / "mytasks.py").read_text()
    code = source.split('"""', 2)[2]  # after the module docstring
    assert blocks[0].strip() == code.strip()


def test_the_sections_code_runs(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # "run from its folder"
    namespace: dict = {"__name__": "readme_writing_a_task"}
    for block in _section_code():
        exec(compile(block, f"README.md ({SECTION})", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["['difficulty', 'classify', 'vocabulary'] []", "['count', 'first', 'length', 'reverse', 'upper']"]
