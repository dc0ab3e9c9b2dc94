"""Calibration: it recovers a simulated student from that student's own runs, reports its fit on
held-out runs against the no-transfer baseline, and refuses runs it cannot fit together."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

import datagym  # noqa: F401
from datagym.agents.registry import make_agent
from datagym.calibration import _Vectorised, calibrate, load_runs
from datagym.cli import app
from datagym.errors import ConfigError
from datagym.runner import run_episode
from datagym.students.simulated_student import SimulatorParameters

SL = "datagym/Arithmetic-SkillList-v1"


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> tuple[str, SimulatorParameters]:
    """The packaged parameters with known transfer and forgetting: the student to recover."""
    params = SimulatorParameters.load()
    params.globals.update(transfer_family=0.2, transfer_all=0.03, forgetting=0.15, seed_sd=0.15, loss_noise=0.03)
    path = tmp_path_factory.mktemp("truth") / "truth.json"
    path.write_text(json.dumps(params.to_json()))
    return str(path), params


@pytest.fixture(scope="module")
def synthetic_runs(truth, tmp_path_factory):
    """Runs of the truth on the Skill-List env: random and weakest-skill teachers (the second
    leaves skills out, so forgetting shows), 8 seeds each."""
    path, _ = truth
    root = tmp_path_factory.mktemp("runs")
    for agent_name in ("random", "weakest_skill"):
        for seed in range(8):
            env = gym.make(SL, student="simulated", student_options={"parameters": path})
            run_episode(env, make_agent(agent_name, env), seed=seed, out_dir=str(root / f"{agent_name}-{seed}"))
    return root


def test_calibration_recovers_a_simulated_student_from_its_own_runs(truth, synthetic_runs):
    _, true_params = truth
    fitted = calibrate([synthetic_runs], difficulty_slope=true_params.globals["difficulty_slope"])
    data = load_runs([synthetic_runs])
    model = _Vectorised(data, transfer=True, difficulty_slope=true_params.globals["difficulty_slope"])
    runs = np.arange(len(data.runs))
    true_acc, true_loss = model.curves(true_params, runs)
    fit_acc, fit_loss = model.curves(fitted, runs)
    # the expected curves, which is what the parameters decide, come back closely
    assert np.sqrt(((fit_acc - true_acc) ** 2).mean()) < 0.03
    assert np.abs(np.log(fit_loss) - np.log(true_loss)).mean() < 0.05
    assert fitted.globals["forgetting"] == pytest.approx(0.15, abs=0.08)
    assert fitted.globals["transfer_all"] == pytest.approx(0.03, abs=0.02)
    fit = fitted.meta["fit"]
    assert fit["evaluated_on"] == "held-out runs" and fitted.meta["heldout_seeds"] == [3, 7]
    # the truth has transfer, so the no-transfer baseline fits held-out runs worse
    assert fit["model"]["rmse"] < fit["no_transfer_baseline"]["rmse"]


def test_the_cli_writes_the_file_and_prints_the_fit(synthetic_runs, tmp_path):
    out = tmp_path / "fitted.json"
    result = CliRunner().invoke(app, ["calibrate", str(synthetic_runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "per-skill accuracy curve RMSE on held-out runs: model" in result.output
    assert "no-transfer baseline" in result.output
    params = SimulatorParameters.load(out)
    env = gym.make(SL, student="simulated", student_options={"parameters": str(out)})
    env.reset(seed=0)
    assert set(params.skills) == set(env.unwrapped.skill_names)


def test_no_runs_and_mixed_students_are_refused(tmp_path, synthetic_runs):
    result = CliRunner().invoke(app, ["calibrate", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "Expected finished run directories" in result.output
    other = tmp_path / "other"
    env = gym.make(SL, student="simulated", student_options={"mode": "retrain"})
    run_episode(env, make_agent("uniform", env), seed=0, out_dir=str(other))
    with pytest.raises(ConfigError, match="Expected runs of one student and task to calibrate on"):
        calibrate([synthetic_runs, other])
    assert not (tmp_path / "x.json").exists()
