"""A user's modules: imported by name from the current directory, or by an installed package's
``datagym.plugins`` entry points; what a run records of them imports them again."""

from __future__ import annotations

import logging
import sys

import gymnasium as gym
import pytest

from datagym.errors import UnknownNameError
from datagym.plugins import ENTRY_POINT_GROUP, import_modules, load_entry_points, reimport

PLUGIN_ENV = "plug/Reverse-SkillList-v0"


@pytest.fixture
def clean_import_state():
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        if name.startswith(("plugged", "broken_plugin", "here_mod", "pkgx")):
            del sys.modules[name]
    gym.registry.pop(PLUGIN_ENV, None)


def _install_fake_distribution(site, entries: dict[str, str]) -> None:
    """A minimal installed distribution on ``site`` whose entry points are ``entries``."""
    info = site / "datagym_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: datagym-plugin-demo\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


def test_entry_point_modules_are_imported_and_a_broken_one_is_skipped_in_one_line(tmp_path, caplog, clean_import_state):
    (tmp_path / "plugged.py").write_text(
        "import gymnasium as gym\n"
        f"gym.register({PLUGIN_ENV!r}, entry_point='datagym.envs.skill_list_env:SkillListEnv',"
        " kwargs={'task': 'arithmetic'})\n"
    )
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-installed')\n")
    _install_fake_distribution(tmp_path, {"demo": "plugged", "bad": "broken_plugin"})
    sys.path.insert(0, str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="datagym.plugins"):
        loaded = load_entry_points()
    assert "demo" in loaded and "bad" not in loaded
    assert PLUGIN_ENV in gym.registry
    (record,) = [r for r in caplog.records if "broken_plugin" in r.getMessage()]
    assert record.getMessage() == (
        "plugin 'bad' (broken_plugin) failed to import and is skipped: RuntimeError: half-installed"
    )


def test_modules_are_found_in_the_current_directory_and_recorded_with_their_root(tmp_path, monkeypatch,
                                                                                  clean_import_state):
    (tmp_path / "here_mod.py").write_text("VALUE = 1\n")
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "pkgx" / "inner.py").write_text("VALUE = 2\n")
    monkeypatch.chdir(tmp_path)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", str(tmp_path))]
    recorded = import_modules(["here_mod", "pkgx.inner", "pkgx"])
    root = str(tmp_path.resolve())
    assert recorded == [{"module": "here_mod", "path": root}, {"module": "pkgx.inner", "path": root},
                        {"module": "pkgx", "path": root}]


def test_reimport_finds_a_recorded_module_from_another_directory(tmp_path, monkeypatch, clean_import_state):
    home = tmp_path / "home"
    home.mkdir()
    (home / "here_mod.py").write_text("VALUE = 3\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a resumed run or a Ray worker starts somewhere else
    reimport([{"module": "here_mod", "path": str(home)}])
    assert sys.modules["here_mod"].VALUE == 3


def test_a_module_that_is_nowhere_is_one_clear_error(tmp_path, monkeypatch, clean_import_state):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownNameError, match=r"--import: cannot import module 'nowhere_at_all' .*expected a module "
                                                r"on the Python path .*Run from the directory that holds nowhere_at_all.py"):
        import_modules(["nowhere_at_all"])
    with pytest.raises(UnknownNameError, match=r"expected a module name like 'mytasks', got ''"):
        import_modules([""])
