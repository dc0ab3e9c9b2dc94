"""The leaderboard: every teacher's standing per env, from finished run directories.

A result is a finished run's ``summary.json`` (it holds the run's config too), found anywhere
under a results directory, so run directories of ``datagym run``, of ``datagym sweep`` and the
slim copies committed in ``benchmarks/leaderboard/`` all count. Runs are grouped by env: the
env id plus any option that differs from what the id registers (a run with another budget
or with difficulty control is another board, never mixed into the default one).

Per env and agent: final macro test accuracy (mean and 95% t-interval over seeds), gain over
no teaching, area under the validation curve (mean macro validation accuracy over the steps,
reset included), and Welch's t-tests against the random and the uniform teacher of the env's
level with Holm-corrected p-values, and per board the rank stability between two halves of its
seeds. The overall view scales each env's scores between its ``no_teaching`` (0) and its
uniform teacher (1) and averages an agent's envs, with a bootstrap interval; it never ranks
agents that share no env (``datagym.board_statistics``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

from datagym.board_statistics import OverallScore, RankStability, holm, normalised_scores, overall_scores, rank_stability
from datagym.errors import RunDirectoryError
from datagym.registration import PROTOCOL_SEEDS  # noqa: F401  (part of this module's interface)

logger = logging.getLogger(__name__)

#: what a summary.json must hold to be ranked
SUMMARY_FIELDS = ("env_id", "agent", "seed", "test_macro_accuracy", "validation_auc", "validation_curve")

#: the floor every teacher is measured against
FLOOR_AGENT = "no_teaching"
#: the uniform teacher of each level: the baseline of the t-test
UNIFORM_AGENTS: dict[str, str] = {
    "skill_list": "uniform",
    "open_ended": "open_ended_uniform",
    "skill_tree": "tree_uniform",
}
#: the state-blind random teacher of each level: the floor a state-aware teacher must beat
RANDOM_AGENTS: dict[str, str] = {
    "skill_list": "random",
    "open_ended": "open_ended_random",
    "skill_tree": "tree_random",
}
#: each level's state-aware candidate: the teacher the board's confirmation seeds test against
#: the level's floors (chosen on seeds 0-9, before the confirmation seeds were run)
CANDIDATE_AGENTS: dict[str, str] = {
    "skill_list": "triage",
    "open_ended": "open_ended_triage",
    "skill_tree": "tree_triage",
}
#: the seeds the floors and the candidates run besides the protocol's 0..PROTOCOL_SEEDS-1: the
#: gaps between them (0.03-0.08) need 20-25 seeds at the measured spread (benchmarks/README.md,
#: "The reward's noise floor")
CONFIRMATION_SEEDS = range(PROTOCOL_SEEDS, 2 * PROTOCOL_SEEDS)


#: the extension: seeds 20-39 for the floors and candidates of the levels whose candidate's
#: lead over its floors was short of the bar at 20 seeds (Skill-List: +0.025 over uniform at a
#: spread of 0.042 needs about 40 seeds for p < 0.01; Open-Ended: +0.048 over random at 0.067).
#: Chosen from the 20-seed board, before these seeds ran; they also calibrate the simulated
#: student (benchmarks/README.md, "The simulated student").
EXTENSION_SEEDS = range(2 * PROTOCOL_SEEDS, 4 * PROTOCOL_SEEDS)
EXTENSION_LEVELS = ("skill_list", "open_ended")
#: agents added to the board after its main sweep, with a sweep of their own per level and
#: their own seeds: the teachers trained by RL, on the protocol's and the confirmation seeds.
#: ppo_sim's policy on the Skill-List env (sweep/rl), and the same policy's allocation written as
#: generator problems on the Open-Ended env (sweep/rl_open_ended)
RL_SWEEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "skill_list": ("rl", ("ppo_sim",)),
    "open_ended": ("rl_open_ended", ("open_ended_ppo_sim",)),
}
RL_AGENTS = tuple(agent for _, agents in RL_SWEEPS.values() for agent in agents)
RL_SEEDS = range(0, 2 * PROTOCOL_SEEDS)


def main_agents() -> list[str]:
    """The agents of the board's main sweep: every registered agent but the RL teachers, which
    have sweeps of their own (``RL_SWEEPS``) and must not run twice, and the LLM policies, which
    need an endpoint."""
    from datagym.agents.registry import offline_agents

    return [agent for agent in offline_agents() if agent not in RL_AGENTS]


def rl_sweeps() -> list[tuple[str, str, tuple[str, ...]]]:
    """The RL teachers' sweeps: (folder under the board's sweep, newest env of the level, agents)."""
    from datagym.registration import LEADERBOARD_TASK, env_level, latest_env_ids

    envs = {env_level(e): e for e in latest_env_ids(LEADERBOARD_TASK)}
    return [(folder, envs[level], agents) for level, (folder, agents) in RL_SWEEPS.items()]


def extension_agents() -> list[str]:
    """The agents of the extension sweep: the random and uniform teacher and the candidate of
    each of ``EXTENSION_LEVELS``."""
    return [agent for level in EXTENSION_LEVELS
            for agent in (RANDOM_AGENTS[level], UNIFORM_AGENTS[level], CANDIDATE_AGENTS[level])]


def confirmation_agents() -> list[str]:
    """The agents of the confirmation sweep: every level's random and uniform teacher and its
    candidate."""
    return [agent for level in UNIFORM_AGENTS
            for agent in (RANDOM_AGENTS[level], UNIFORM_AGENTS[level], CANDIDATE_AGENTS[level])]


@dataclass
class Result:
    """One finished episode."""

    env: str
    level: str
    agent: str
    seed: int
    test: float
    auc: float
    curve: list[float]
    path: str = ""


@dataclass
class Row:
    agent: str
    n: int
    mean: float
    low: float
    high: float
    gain_over_floor: float | None
    auc: float
    t_vs_uniform: float | None
    p_vs_uniform: float | None
    rank: int = 0
    seeds: list[int] = field(default_factory=list)
    level: str = "skill_list"
    #: test accuracy per seed
    tests: dict[int, float] = field(default_factory=dict)
    #: Welch's test against the level's random teacher, and both p-values Holm-corrected over the board
    t_vs_random: float | None = None
    p_vs_random: float | None = None
    p_vs_random_holm: float | None = None
    p_vs_uniform_holm: float | None = None


def env_label(config: dict) -> str:
    """The board a run belongs to: its env id, plus options that differ from the registered ones."""
    import gymnasium as gym

    env_id = config.get("env_id", "?")
    options = dict(config.get("env_options") or {})
    if config.get("registered_env_options") is not None:  # recorded: no need to import a user's env
        registered = dict(config["registered_env_options"])
    else:
        registered = dict(gym.registry[env_id].kwargs) if env_id in gym.registry else {}
    extra = {k: v for k, v in sorted(options.items()) if registered.get(k, _MISSING) != v and k != "timings"}
    if not extra:
        return env_id
    return f"{env_id} {json.dumps(extra, sort_keys=True, separators=(',', ':'))}"


_MISSING = object()


def _level(summary: dict) -> str:
    from datagym.registration import env_level

    return str(summary.get("level") or env_level(summary["env_id"]))


@dataclass
class Skipped:
    """A run directory the leaderboard could not read, and why."""

    path: str
    reason: str


def load_results(root: str | Path, skipped: list[Skipped] | None = None) -> list[Result]:
    """Every finished run (a ``summary.json``) under ``root``.

    A summary that is not a readable datagym run (hand-edited, foreign, or written by an old
    version without the fields a board needs) is skipped, not fatal: it is appended to
    ``skipped`` when a list is given, else logged as one warning line naming it and why."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirectoryError(f"Expected a results directory, got {str(root)!r}, which is not a directory.")
    results = []
    for path in sorted(root.rglob("summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise TypeError(f"a JSON {type(summary).__name__}, not an object")
            missing = [k for k in SUMMARY_FIELDS if k not in summary]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
            label = env_label(summary)
            results.append(
                Result(
                    env=label,
                    level=_level(summary),
                    agent=str(summary["agent"]),
                    seed=int(summary["seed"]),
                    test=float(summary["test_macro_accuracy"]),
                    auc=float(summary["validation_auc"]),
                    curve=[float(x) for x in summary["validation_curve"]],
                    path=str(path.parent),
                )
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            entry = Skipped(str(path.parent), f"{type(exc).__name__}: {reason}")
            if skipped is not None:
                skipped.append(entry)
            else:
                logger.warning("skipped %s: not a readable datagym run (%s)", entry.path, entry.reason)
    if not results:
        found = f"; {_count(skipped, 'unreadable run')} skipped" if skipped else ""
        raise RunDirectoryError(
            f"Expected finished runs (summary.json files) under {str(root)!r}, found none{found}. "
            f"Make some with `datagym run` or `datagym sweep`."
        )
    return results


def _count(items: list | None, noun: str) -> str:
    n = len(items or [])
    return f"{n} {noun}{'' if n == 1 else 's'}"


def interval95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% t-interval of the mean (the interval is the mean itself for one value)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, float | None]:
    """Welch's t statistic and two-sided p-value of mean(a) - mean(b); None with too few values."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None, None
    if a.var(ddof=1) + b.var(ddof=1) == 0:
        diff = a.mean() - b.mean()
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def board(results: Iterable[Result]) -> dict[str, list[Row]]:
    """Rows per env, best mean test accuracy first. Several runs of one (env, agent, seed) keep
    the last one found (so a re-run replaces an older copy of itself)."""
    by_env: dict[str, dict[str, dict[int, Result]]] = {}
    levels: dict[str, str] = {}
    for r in results:
        by_env.setdefault(r.env, {}).setdefault(r.agent, {})[r.seed] = r
        levels[r.env] = r.level
    out: dict[str, list[Row]] = {}
    for env, agents in sorted(by_env.items()):
        level = levels[env]
        floor = agents.get(FLOOR_AGENT)
        uniform = agents.get(UNIFORM_AGENTS.get(level, "uniform"))
        random = agents.get(RANDOM_AGENTS.get(level, "random"))
        rows = []
        for agent, seeds in agents.items():
            tests = [seeds[s].test for s in sorted(seeds)]
            mean, low, high = interval95(tests)
            gain = mean - float(np.mean([x.test for x in floor.values()])) if floor else None
            t, p = (None, None)
            if uniform is not None and seeds is not uniform:
                t, p = welch(tests, [x.test for x in uniform.values()])
            t_random, p_random = (None, None)
            if random is not None and seeds is not random:
                t_random, p_random = welch(tests, [x.test for x in random.values()])
            rows.append(
                Row(agent=agent, n=len(tests), mean=mean, low=low, high=high, gain_over_floor=gain,
                    auc=float(np.mean([seeds[s].auc for s in seeds])), t_vs_uniform=t, p_vs_uniform=p,
                    seeds=sorted(seeds), level=level, tests={s: seeds[s].test for s in sorted(seeds)},
                    t_vs_random=t_random, p_vs_random=p_random)
            )
        # Every teacher of a board is tested against the same baseline: Holm bounds the
        # family-wise error of the board's tests.
        for row, adjusted in zip(rows, holm([r.p_vs_uniform for r in rows])):
            row.p_vs_uniform_holm = adjusted
        for row, adjusted in zip(rows, holm([r.p_vs_random for r in rows])):
            row.p_vs_random_holm = adjusted
        rows.sort(key=lambda row: (-row.mean, row.agent))
        for i, row in enumerate(rows):
            row.rank = i + 1
        out[env] = rows
    return out


def overall(boards: dict[str, list[Row]]) -> tuple[list[OverallScore], list[str]]:
    """The overall view: each agent's test accuracy on each env scaled between the env's
    ``no_teaching`` (0) and its level's uniform teacher (1), averaged over the envs the agent
    ran on, with a 95% bootstrap interval over seeds; best first. Also the boards left out (no
    floor or uniform run, or uniform no better than the floor). A board with a single agent
    compares nobody and is left out too."""
    tests = {env: {row.agent: list(row.tests.values()) for row in rows} for env, rows in boards.items() if len(rows) > 1}
    references = {env: (FLOOR_AGENT, UNIFORM_AGENTS.get(rows[0].level, "uniform")) for env, rows in boards.items()}
    scaled, skipped = normalised_scores(tests, references)
    return overall_scores(scaled), sorted(skipped)


def stability(rows: list[Row]) -> RankStability:
    """Kendall's tau between the board's rankings on two disjoint halves of its seeds."""
    return rank_stability({row.agent: row.tests for row in rows})


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, spec)


#: agents that do not read the observation: the floors, never "a teacher that reads the state"
STATE_BLIND = {FLOOR_AGENT, *UNIFORM_AGENTS.values(), *RANDOM_AGENTS.values()}


def markdown(boards: dict[str, list[Row]], uniform_names: dict[str, str] | None = None) -> str:
    lines = ["# datagym leaderboard", ""]
    lines += [
        "Final macro test accuracy over seeds (mean and 95% t-interval), gain over `no_teaching`, "
        "area under the validation curve (mean macro validation accuracy over steps, reset "
        "included), and Welch's t-tests against the random and the uniform teacher of the env's "
        "level, their p-values Holm-corrected over each board's teachers. Each board ends with its "
        "rank stability: Kendall's tau between the rankings of two disjoint halves of its seeds.",
        "",
        "## Overall",
        "",
        "Each agent's test accuracy on each env scaled between that env's `no_teaching` (0) and "
        "its level's uniform teacher (1), averaged over the envs the agent ran on, with a 95% "
        "bootstrap interval (seeds resampled within each env). The scale is shared across envs and "
        "levels; it is not a rank: agents that ran on different envs were never compared on one.",
        "",
        "| agent | envs | normalised score | 95% bootstrap interval |",
        "|---|---|---|---|",
    ]
    scores, skipped = overall(boards)
    for entry in scores:
        lines.append(f"| {entry.agent} | {entry.envs} | {entry.score:+.3f} | [{entry.low:+.3f}, {entry.high:+.3f}] |")
    if skipped:
        lines += ["", "Not in the overall view (no `no_teaching` or uniform run, or uniform no better than "
                  "`no_teaching`): " + ", ".join(skipped) + "."]
    for env, rows in boards.items():
        level = rows[0].level
        base = (uniform_names or {}).get(env, UNIFORM_AGENTS.get(level, "uniform"))
        rand = RANDOM_AGENTS.get(level, "random")
        lines += [
            "",
            f"## {env}",
            "",
            f"| rank | agent | seeds | test macro accuracy | 95% interval | gain over no_teaching | validation AUC "
            f"| Welch t vs {rand} | Holm p | Welch t vs {base} | Holm p |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row.rank} | {row.agent} | {row.n} | {row.mean:.4f} | [{row.low:.4f}, {row.high:.4f}] | "
                f"{_fmt(row.gain_over_floor, '+.4f')} | {row.auc:.4f} | {_fmt(row.t_vs_random, '+.2f')} | "
                f"{_fmt(row.p_vs_random_holm, '.3g')} | {_fmt(row.t_vs_uniform, '+.2f')} | "
                f"{_fmt(row.p_vs_uniform_holm, '.3g')} |"
            )
        ahead = [r.agent for r in rows if r.agent not in STATE_BLIND and r.t_vs_random is not None
                 and r.t_vs_random > 0 and r.p_vs_random_holm is not None and r.p_vs_random_holm < 0.05]
        stable = stability(rows)
        tau = "undefined" if stable.tau is None else f"{stable.tau:+.2f}"
        lines += [
            "",
            f"State-aware teachers ahead of `{rand}` (Holm p < 0.05): {', '.join(ahead) if ahead else 'none'}. "
            f"Rank stability: Kendall's tau {tau} between seeds {_seed_text(stable.seeds_a)} and "
            f"{_seed_text(stable.seeds_b)} ({stable.agents} agents).",
        ]
        name = slug(env)
        lines += [
            "",
            f"The same rows as CSV: [leaderboard_{name}.csv](leaderboard_{name}.csv).",
            "",
            f"![{env}: macro validation accuracy per step, mean and 95% band over seeds](curves_{name}.png)",
        ]
    return "\n".join(lines) + "\n"


def _seed_text(seeds: list[int]) -> str:
    return "{" + ", ".join(map(str, seeds)) + "}" if seeds else "{}"


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "agent", "seeds", "test_mean", "test_ci95_low", "test_ci95_high",
                     "gain_over_no_teaching", "validation_auc", "welch_t_vs_uniform", "welch_p_vs_uniform",
                     "holm_p_vs_uniform", "welch_t_vs_random", "welch_p_vs_random", "holm_p_vs_random"])
    for row in rows:
        writer.writerow([row.rank, row.agent, row.n, f"{row.mean:.6f}", f"{row.low:.6f}", f"{row.high:.6f}",
                         _fmt(row.gain_over_floor, ".6f"), f"{row.auc:.6f}", _fmt(row.t_vs_uniform, ".6f"),
                         _fmt(row.p_vs_uniform, ".6g"), _fmt(row.p_vs_uniform_holm, ".6g"),
                         _fmt(row.t_vs_random, ".6f"), _fmt(row.p_vs_random, ".6g"), _fmt(row.p_vs_random_holm, ".6g")])
    return buffer.getvalue()


def slug(env: str) -> str:
    """A file-name-safe name of a board."""
    keep = [c if c.isalnum() or c in "-_." else "_" for c in env.replace("datagym/", "")]
    return "".join(keep).strip("_")


def write(results: list[Result], out_dir: str | Path) -> list[Path]:
    """Write leaderboard.md, one CSV and one learning-curve PNG per env; return the paths."""
    from datagym.plotting import plot_learning_curves
    from datagym.run_dir import atomic_write_text

    out_dir = Path(out_dir)
    boards = board(results)
    levels = {r.env: r.level for r in results}
    uniform_names = {env: UNIFORM_AGENTS.get(level, "uniform") for env, level in levels.items()}
    written = []
    path = out_dir / "leaderboard.md"
    atomic_write_text(path, markdown(boards, uniform_names))
    written.append(path)
    for env, rows in boards.items():
        path = out_dir / f"leaderboard_{slug(env)}.csv"
        atomic_write_text(path, csv_text(rows))
        written.append(path)
        curves = {row.agent: [r.curve for r in results if r.env == env and r.agent == row.agent] for row in rows}
        written.append(plot_learning_curves(curves, env, out_dir / f"curves_{slug(env)}.png"))
    return written
