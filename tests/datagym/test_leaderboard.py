"""The leaderboard reads finished runs, groups them by env, and gets its statistics right."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from datagym.agents import make_agent
from datagym.errors import RunDirectoryError
from datagym.leaderboard import (
    CANDIDATE_AGENTS,
    CONFIRMATION_SEEDS,
    PROTOCOL_SEEDS,
    RANDOM_AGENTS,
    UNIFORM_AGENTS,
    confirmation_agents,
    board,
    csv_text,
    env_label,
    interval95,
    load_results,
    overall,
    welch,
    write,
)
from datagym.runner import episode_config, run_episode

SKILL_LIST = "datagym/Arithmetic-SkillList-v1"


def _summary(root: Path, agent: str, seed: int, test: float, curve=None, env_id=SKILL_LIST, options=None) -> None:
    curve = curve or [0.0, test / 2, test]
    path = root / f"{env_id.replace('/', '_')}-{agent}-{seed}-{len(list(root.iterdir()))}" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "env_id": env_id, "env_options": {"task": "arithmetic", **(options or {})}, "agent": agent,
        "seed": seed, "test_macro_accuracy": test, "validation_curve": curve,
        "validation_auc": float(np.mean(curve)),
    }))


@pytest.fixture
def results_dir(tmp_path):
    scores = {"no_teaching": [0.0, 0.0, 0.0], "uniform": [0.10, 0.12, 0.14], "smart": [0.20, 0.22, 0.27]}
    for agent, values in scores.items():
        for seed, value in enumerate(values):
            _summary(tmp_path, agent, seed, value)
    return tmp_path


def test_interval_is_the_t_interval_of_the_mean():
    values = [0.1, 0.2, 0.4]
    mean, low, high = interval95(values)
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(0.7 / 3)
    assert (low, high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert interval95([0.3]) == (0.3, 0.3, 0.3)


def test_welch_matches_the_textbook_formula():
    a, b = np.array([0.2, 0.22, 0.27]), np.array([0.10, 0.12, 0.14, 0.11])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 4
    t, p = welch(a, b)
    assert t == pytest.approx((a.mean() - b.mean()) / math.sqrt(va + vb))
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), dof))
    assert welch([0.1], [0.2, 0.3]) == (None, None)
    assert welch([0.0, 0.0], [0.0, 0.0]) == (0.0, 1.0)


def test_board_ranks_agents_and_measures_them_against_floor_and_uniform(results_dir):
    rows = board(load_results(results_dir))[SKILL_LIST]
    assert [r.agent for r in rows] == ["smart", "uniform", "no_teaching"]
    assert [r.rank for r in rows] == [1, 2, 3]
    smart, uniform, floor = rows
    assert smart.mean == pytest.approx(0.23) and smart.n == 3 and smart.seeds == [0, 1, 2]
    assert smart.gain_over_floor == pytest.approx(0.23)
    assert uniform.t_vs_uniform is None  # the baseline is not tested against itself
    assert smart.t_vs_uniform == pytest.approx(welch([0.20, 0.22, 0.27], [0.10, 0.12, 0.14])[0])
    assert smart.auc == pytest.approx(np.mean([np.mean([0, v / 2, v]) for v in (0.20, 0.22, 0.27)]))


def test_runs_with_other_options_are_another_board(results_dir):
    _summary(results_dir, "smart", 0, 0.5, options={"total_budget": 768})
    boards = board(load_results(results_dir))
    assert set(boards) == {SKILL_LIST, SKILL_LIST + ' {"total_budget":768}'}
    assert env_label({"env_id": SKILL_LIST, "env_options": {"task": "arithmetic", "timings": False}}) == SKILL_LIST


def test_overall_scales_each_board_between_no_teaching_and_uniform(results_dir):
    # another env where uniform is 0.2 above its own no_teaching and smart 0.1 above uniform
    for seed in range(2):
        _summary(results_dir, "no_teaching", seed, 0.05, env_id="datagym/Other-SkillList-v0")
        _summary(results_dir, "uniform", seed, 0.25, env_id="datagym/Other-SkillList-v0")
        _summary(results_dir, "smart", seed, 0.35, env_id="datagym/Other-SkillList-v0")
    scores, skipped = overall(board(load_results(results_dir)))
    assert skipped == []
    assert [x.agent for x in scores] == ["smart", "uniform", "no_teaching"]
    smart = scores[0]
    # first board: (0.23 - 0) / (0.12 - 0); second: (0.35 - 0.05) / 0.2
    assert smart.envs == 2 and smart.score == pytest.approx((0.23 / 0.12 + 1.5) / 2)
    assert scores[1].score == pytest.approx(1.0) and scores[2].score == pytest.approx(0.0)
    assert smart.low < smart.score < smart.high


def test_overall_leaves_out_a_board_whose_scale_is_undefined(results_dir):
    _summary(results_dir, "smart", 0, 0.3, env_id="datagym/Other-SkillList-v0")
    _summary(results_dir, "weak", 0, 0.1, env_id="datagym/Other-SkillList-v0")  # no floor, no uniform there
    scores, skipped = overall(board(load_results(results_dir)))
    assert skipped == ['datagym/Other-SkillList-v0 {"task":"arithmetic"}']  # an unregistered id: every option shows
    assert "weak" not in {x.agent for x in scores}
    assert next(x for x in scores if x.agent == "smart").envs == 1


def test_write_makes_markdown_csv_and_curves(results_dir, tmp_path):
    out = tmp_path / "board"
    paths = write(load_results(results_dir), out)
    names = sorted(p.name for p in paths)
    assert names == ["curves_Arithmetic-SkillList-v1.png", "leaderboard.md", "leaderboard_Arithmetic-SkillList-v1.csv"]
    text = (out / "leaderboard.md").read_text()
    assert "| 1 | smart | 3 | 0.2300 |" in text and "Welch t vs uniform | Holm p" in text
    assert "Welch t vs random | Holm p" in text and "Rank stability: Kendall's tau" in text
    assert "| smart | 1 | +1.917 |" in text  # the overall view: (0.23 - 0) / (0.12 - 0)
    # the markdown links the env's CSV and shows its curves, by the names written next to it
    assert "](leaderboard_Arithmetic-SkillList-v1.csv)" in text and "](curves_Arithmetic-SkillList-v1.png)" in text
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard_Arithmetic-SkillList-v1.csv").read_text())))
    assert [r["agent"] for r in rows] == ["smart", "uniform", "no_teaching"]
    assert float(rows[0]["test_ci95_low"]) < 0.23 < float(rows[0]["test_ci95_high"])
    png = (out / "curves_Arithmetic-SkillList-v1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_empty_or_foreign_results_are_refused(tmp_path):
    with pytest.raises(RunDirectoryError, match="found none"):
        load_results(tmp_path)
    with pytest.raises(RunDirectoryError, match="which is not a directory"):
        load_results(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text('{"agent": "a"}')
    with pytest.raises(RunDirectoryError, match=r"found none; 1 unreadable run skipped"):
        load_results(tmp_path, [])


def test_an_unreadable_run_is_skipped_with_its_reason_and_the_rest_ranked(results_dir):
    from datagym.leaderboard import Skipped

    (results_dir / "python-run").mkdir()
    (results_dir / "python-run" / "summary.json").write_text('{"seed": 0}')  # what old run_episode wrote
    (results_dir / "torn").mkdir()
    (results_dir / "torn" / "summary.json").write_text('{"env_id": ')
    skipped: list = []
    results = load_results(results_dir, skipped)
    assert len(results) == 9
    assert skipped == [
        Skipped(str(results_dir / "python-run"),
                "KeyError: no env_id, agent, test_macro_accuracy, validation_auc, validation_curve"),
        Skipped(str(results_dir / "torn"), skipped[1].reason),
    ]
    assert skipped[1].reason.startswith("JSONDecodeError: Expecting value")


def test_cli_leaderboard_skips_an_unreadable_run_in_one_line(results_dir, tmp_path):
    from typer.testing import CliRunner

    from datagym.cli import app

    (results_dir / "python-run").mkdir()
    (results_dir / "python-run" / "summary.json").write_text('{"seed": 0}')
    result = CliRunner().invoke(app, ["leaderboard", str(results_dir), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert len(lines) == 1 and str(results_dir / "python-run") in lines[0] and "no env_id" in lines[0]
    assert "smart" in (tmp_path / "b" / "leaderboard.md").read_text()


def test_overall_ignores_a_board_with_a_single_agent(results_dir):
    _summary(results_dir, "loner", 0, 0.0, options={"step_budget": 7})
    boards = board(load_results(results_dir))
    assert len(boards) == 2
    scores, _ = overall(boards)
    assert [x.agent for x in scores] == ["smart", "uniform", "no_teaching"]


def test_evaluate_defaults_to_the_committed_leaderboard():
    from datagym.cli import committed_results
    from datagym.registration import latest_env_ids

    assert committed_results().parts[-3:] == ("benchmarks", "leaderboard", "sweep")
    boards = board(load_results(committed_results()))
    # the committed board is of the newest envs, made with the protocol's seeds, and the
    # confirmation and extension seeds for the floors and candidates, the RL teachers' seeds (a
    # sweep still under way has fewer runs; it never has more, nor another env)
    assert boards and set(boards) <= set(latest_env_ids())
    from datagym.leaderboard import EXTENSION_SEEDS, RL_AGENTS, RL_SEEDS, extension_agents

    protocol, confirmation = set(range(PROTOCOL_SEEDS)), set(CONFIRMATION_SEEDS)
    for rows in boards.values():
        for row in rows:
            allowed = protocol | (confirmation if row.agent in confirmation_agents() else set())
            allowed |= set(EXTENSION_SEEDS) if row.agent in extension_agents() else set()
            allowed |= set(RL_SEEDS) if row.agent in RL_AGENTS else set()
            assert 1 <= row.n and set(row.seeds) <= allowed, (row.agent, row.seeds)


def test_the_confirmation_sweep_runs_each_levels_floors_and_candidate():
    from datagym.agents import agent_class

    agents = confirmation_agents()
    assert len(agents) == len(set(agents)) == 9
    for level, candidate in CANDIDATE_AGENTS.items():
        assert level in agent_class(candidate).levels and candidate in agents
        assert RANDOM_AGENTS[level] in agents and UNIFORM_AGENTS[level] in agents
    assert set(CONFIRMATION_SEEDS).isdisjoint(range(PROTOCOL_SEEDS)) and len(CONFIRMATION_SEEDS) == PROTOCOL_SEEDS


def test_the_extension_sweep_is_the_floors_and_candidates_of_its_levels_on_fresh_seeds():
    from datagym.leaderboard import EXTENSION_LEVELS, EXTENSION_SEEDS, extension_agents

    agents = extension_agents()
    assert len(agents) == 3 * len(EXTENSION_LEVELS)
    for level in EXTENSION_LEVELS:
        assert {RANDOM_AGENTS[level], UNIFORM_AGENTS[level], CANDIDATE_AGENTS[level]} <= set(agents)
    assert set(EXTENSION_SEEDS).isdisjoint(set(CONFIRMATION_SEEDS) | set(range(PROTOCOL_SEEDS)))


def test_the_v0_board_is_kept_as_it_was_made():
    from datagym.cli import committed_results

    v0 = committed_results().parent / "v0" / "sweep"
    boards = board(load_results(v0))
    assert sorted(boards) == sorted(["datagym/Arithmetic-SkillList-v0", "datagym/Arithmetic-OpenEnded-v0",
                                     "datagym/Arithmetic-SkillTree-v0"])
    assert all(row.n == 5 for rows in boards.values() for row in rows)
    uniform = next(r for r in boards["datagym/Arithmetic-SkillList-v0"] if r.agent == "uniform")
    assert round(uniform.mean, 4) == 0.1200  # the v0 table in benchmarks/README.md


def test_real_runs_make_a_board(tmp_path, fast_env_kwargs):
    for agent in ("no_teaching", "uniform"):
        for seed in (0, 1):
            env = gym.make(SKILL_LIST, **fast_env_kwargs)
            run_episode(env, make_agent(agent, env), seed=seed, out_dir=str(tmp_path / f"{agent}{seed}"),
                        config=episode_config(env, agent, {}, seed))
    rows = board(load_results(tmp_path))
    (label,) = rows
    assert label.startswith(SKILL_LIST + " ")  # the fast budgets are not the registered defaults
    assert {r.agent for r in rows[label]} == {"no_teaching", "uniform"}
    assert all(r.n == 2 for r in rows[label])
    assert "no_teaching" in csv_text(rows[label])


def test_cli_leaderboard_and_evaluate_rank_a_users_teacher(tmp_path, fast_env_kwargs):
    from typer.testing import CliRunner

    from datagym.cli import app

    fast_env_kwargs["student_options"]["learning_rate"] = 1e-9  # a student that learns nothing
    results = tmp_path / "results"
    for agent in ("no_teaching", "uniform"):
        for seed in (0, 1):
            env = gym.make(SKILL_LIST, **fast_env_kwargs)
            run_episode(env, make_agent(agent, env), seed=seed, out_dir=str(results / f"{agent}{seed}"),
                        config=episode_config(env, agent, {}, seed))
    runner = CliRunner()
    made = runner.invoke(app, ["leaderboard", str(results), "--out", str(tmp_path / "board")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "board" / "leaderboard.md").exists()
    assert len(list((tmp_path / "board").glob("curves_*.png"))) == 1

    evaluated = runner.invoke(app, [
        "evaluate", "--agent", "weakest_skill", "--results", str(results), "--seeds", "2", "--env", SKILL_LIST,
        "--out", str(tmp_path / "mine"), "--env-options", json.dumps(fast_env_kwargs),
    ])
    assert evaluated.exit_code == 0, evaluated.output
    assert "rank " in evaluated.output and " of 3" in evaluated.output
    # the fast student learns nothing: uniform ties no_teaching, so the 0-to-1 scale is undefined
    assert "overall: no score" in evaluated.output and "uniform no better than no_teaching" in evaluated.output
    assert len(list((tmp_path / "mine").glob("*/summary.json"))) == 2
    assert f"not the leaderboard's ({PROTOCOL_SEEDS} seeds, registered options)" in " ".join(evaluated.output.split())


def test_evaluate_alone_on_a_board_gets_no_rank(tmp_path, fast_env_kwargs):
    """The reported bug: a teacher alone on its one-seed board came out "rank 1 of 1", then
    "overall: rank 2 of 15" because that board counted."""
    from typer.testing import CliRunner

    from datagym.cli import app

    result = CliRunner().invoke(app, [
        "evaluate", "--agent", "no_teaching", "--seeds", "1", "--env", SKILL_LIST, "--no-baselines",
        "--out", str(tmp_path / "mine"), "--env-options", json.dumps(fast_env_kwargs),
    ])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "no other agent on this board, so no rank" in out
    assert "overall: no score: the 0-to-1 scale needs a board with another agent" in out
    assert "rank 1 of 1" not in out


def test_cli_leaderboard_of_an_empty_directory_fails_with_exit_2(tmp_path):
    from typer.testing import CliRunner

    from datagym.cli import app

    result = CliRunner().invoke(app, ["leaderboard", str(tmp_path)])
    assert result.exit_code == 2
    assert "found none" in result.output
