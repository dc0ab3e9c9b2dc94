"""Plots of a run: the accuracy matrix they draw and the files they write."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from datagym.plotting import (
    MAX_WIDTH,
    accuracy_matrix,
    curve_band,
    is_flat,
    plot_accuracy_heatmap,
    plot_data,
    plot_learning_curves,
    plot_rewards,
)

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


def test_curve_band_is_the_mean_and_t_interval_of_the_runs_that_reached_each_step():
    steps, mean, low, high = curve_band([[0.0, 0.2, 0.4], [0.0, 0.4], [0.0, 0.3, float("nan")]])
    assert steps.tolist() == [0, 1, 2]
    assert mean.tolist() == pytest.approx([0.0, 0.3, 0.4])
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2) * s / sqrt(n) over 0.2 0.4 0.3
    assert (low[1], high[1]) == pytest.approx((0.3 - half, 0.3 + half))
    assert low[0] == high[0] == 0.0  # no spread
    assert low[2] == high[2] == 0.4  # one run reached step 2 (the nan is skipped)


def test_a_curve_that_never_moves_is_flat_and_one_that_does_is_not():
    assert is_flat(*curve_band([[0.0] * 21, [0.0] * 21])[1:])
    assert not is_flat(*curve_band([[0.0, 0.1], [0.0, 0.1]])[1:])
    assert not is_flat(*curve_band([[0.1, 0.1], [0.1, 0.3]])[1:])  # same mean, but a band
    assert not is_flat(*curve_band([[0.2]])[1:])  # one point is not a level


def test_learning_curves_keep_the_steps_of_the_moving_curves(tmp_path, monkeypatch):
    import datagym.plotting as plotting

    seen = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, path: seen.setdefault("ax", fig.axes[0]) and path)
    curves = {"teacher": [[0.0, 0.1, 0.2], [0.0, 0.2, 0.3]], "no_teaching": [[0.0] * 21] * 2}
    plot_learning_curves(curves, "env", tmp_path / "c.png")
    ax = seen["ax"]
    assert ax.get_xlim() == (0.0, 2.0)  # not stretched to the 20 steps of the flat curve
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["teacher (n=2)", "no_teaching (n=2), flat over 20 steps"]
    assert ax.get_lines()[1].get_linestyle() == "--" and ax.get_ylim()[0] < 0.0


def test_learning_curves_are_a_png(tmp_path):
    path = plot_learning_curves({"a": [[0.0, 0.1]], "b": [[0.0] * 3]}, "env", tmp_path / "c.png")
    assert path.read_bytes()[:8] == PNG


def test_the_data_plot_stacks_verdicts_and_adds_a_panel_for_llm_usage(tmp_path):
    plain = [{"teacher/accepted": 30, "teacher/rejected": {"wrong_answer": 2}},
             {"teacher/accepted": 28, "teacher/rejected": {"duplicate": 3, "near_duplicate": 1}}]
    with_llm = [dict(step, **{"teacher/llm_requests": 2, "teacher/llm_prompt_tokens": 900,
                              "teacher/llm_completion_tokens": 120, "teacher/llm_failures": {"invalid_json": k}})
                for k, step in enumerate(plain)]
    width, height = png_size(plot_data(plain, tmp_path / "plain.png"))
    width_llm, height_llm = png_size(plot_data(with_llm, tmp_path / "llm.png", title="llm run"))
    assert width == width_llm and height_llm > height  # the LLM panel is a second row
