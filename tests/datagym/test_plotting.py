"""Plots of a run: the accuracy matrix they draw and the files they write."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from datagym.plotting import MAX_WIDTH, accuracy_matrix, plot_accuracy_heatmap, plot_rewards

PNG = b"\x89PNG\r\n\x1a\n"
STEPS = [
    {"reward": 0.1, "student/macro_accuracy": 0.1, "student/accuracy": {"a": 0.2, "b": 0.0}},
    {"reward": -0.05, "student/macro_accuracy": 0.05, "student/accuracy": {"a": 0.1, "b": 0.0}},
]


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return struct.unpack(">II", data[16:24])


def many_steps(n: int, skills: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {"reward": float(rng.normal(0, 0.01)), "student/macro_accuracy": float(rng.random()),
         "student/accuracy": {s: float(rng.random()) for s in skills}}
        for _ in range(n)
    ]


def test_accuracy_matrix_has_a_row_per_skill_and_a_column_per_step():
    m = accuracy_matrix(STEPS, ["a", "b"], initial={"a": 0.0, "b": 0.0})
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[0], [0.0, 0.2, 0.1])
    assert accuracy_matrix(STEPS, ["a", "b"]).shape == (2, 2)


def test_a_skill_missing_from_a_step_is_blank_not_zero():
    m = accuracy_matrix(STEPS, ["a", "c"])
    assert np.isnan(m[1]).all()
    m = accuracy_matrix([{"reward": 0.0, "student/accuracy": None}], ["a"])
    assert m.shape == (1, 1) and np.isnan(m).all()


def test_plots_are_written_as_png_and_their_paths_returned(tmp_path):
    heat = plot_accuracy_heatmap(STEPS, ["a", "b"], tmp_path / "h.png", initial={"a": 0.0, "b": 0.0})
    rew = plot_rewards(STEPS, [0.0, 0.1, 0.05], tmp_path / "r.png", test_macro_accuracy=0.07)
    assert (heat, rew) == (tmp_path / "h.png", tmp_path / "r.png")
    for path in (heat, rew):
        assert path.read_bytes()[:8] == PNG


def test_plot_functions_create_the_target_folder(tmp_path):
    path = plot_rewards(STEPS, None, tmp_path / "new" / "deeper" / "r.png")
    assert path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("n_steps", [1, 10, 200])
def test_heatmap_stays_a_sane_size_however_long_the_run(tmp_path, n_steps):
    skills = [f"skill_with_a_long_name_{i}" for i in range(15)]
    steps = many_steps(n_steps, skills)
    heat = plot_accuracy_heatmap(steps, skills, tmp_path / "h.png", initial={s: 0.0 for s in skills})
    rew = plot_rewards(steps, None, tmp_path / "r.png")
    width, height = png_size(heat)
    assert 600 <= width <= MAX_WIDTH * 120 and 300 <= height < 1500
    assert png_size(rew)[0] < 1200


def test_plotting_leaves_no_pyplot_state_behind():
    code = (
        "import sys, pathlib, tempfile\n"
        "from datagym.plotting import plot_accuracy_heatmap, plot_rewards\n"
        "d = pathlib.Path(tempfile.mkdtemp())\n"
        "steps = [{'reward': 0.1, 'student/accuracy': {'a': 0.5}}]\n"
        "plot_accuracy_heatmap(steps, ['a'], d / 'h.png'); plot_rewards(steps, [0.0, 0.1], d / 'r.png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
