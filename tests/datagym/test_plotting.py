"""Plots of a run: the accuracy matrix they draw and the files they write."""

from __future__ import annotations

import numpy as np

from datagym.plotting import accuracy_matrix, plot_accuracy_heatmap, plot_rewards

STEPS = [
    {"reward": 0.1, "student/accuracy": {"a": 0.2, "b": 0.0}},
    {"reward": -0.05, "student/accuracy": {"a": 0.1, "b": 0.0}},
]


def test_accuracy_matrix_has_a_row_per_skill_and_a_column_per_step():
    m = accuracy_matrix(STEPS, ["a", "b"], initial={"a": 0.0, "b": 0.0})
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[0], [0.0, 0.2, 0.1])
    assert accuracy_matrix(STEPS, ["a", "b"]).shape == (2, 2)


def test_a_skill_missing_from_a_step_is_blank_not_zero():
    m = accuracy_matrix(STEPS, ["a", "c"])
    assert np.isnan(m[1]).all()


def test_plots_are_written_as_png(tmp_path):
    heat = plot_accuracy_heatmap(STEPS, ["a", "b"], tmp_path / "h.png", initial={"a": 0.0, "b": 0.0})
    rew = plot_rewards(STEPS, [0.0, 0.1, 0.05], tmp_path / "r.png")
    for path in (heat, rew):
        assert path.read_bytes()[:4] == b"\x89PNG"
