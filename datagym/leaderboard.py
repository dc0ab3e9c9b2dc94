"""The leaderboard: every teacher's standing per env, from finished run directories.

A result is a finished run's ``summary.json`` (it holds the run's config too), found anywhere
under a results directory, so run directories of ``datagym run``, of ``datagym sweep`` and the
slim copies committed in ``benchmarks/leaderboard/`` all count. Runs are grouped by env: the
env id plus any option that differs from what the id registers (a run with another budget
or with difficulty control is another board, never mixed into the default one).

Per env and agent: final macro test accuracy (mean and 95% t-interval over seeds), gain over
no teaching, area under the validation curve (mean macro validation accuracy over the steps,
reset included), and Welch's t-test against the uniform teacher of the env's level. The
overall rank orders agents by their mean normalised rank over the envs they ran in (0 = top
of every board they are on, 1 = bottom), so boards with different numbers of agents weigh
the same.
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

from datagym.errors import RunDirectoryError

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
#: the protocol of the committed leaderboard and of `datagym evaluate`
PROTOCOL_SEEDS = 5


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
        floor = agents.get(FLOOR_AGENT)
        uniform = agents.get(UNIFORM_AGENTS.get(levels[env], "uniform"))
        rows = []
        for agent, seeds in agents.items():
            tests = [seeds[s].test for s in sorted(seeds)]
            mean, low, high = interval95(tests)
            gain = mean - float(np.mean([x.test for x in floor.values()])) if floor else None
            t, p = (None, None)
            if uniform is not None and seeds is not uniform:
                t, p = welch(tests, [x.test for x in uniform.values()])
            rows.append(
                Row(agent=agent, n=len(tests), mean=mean, low=low, high=high, gain_over_floor=gain,
                    auc=float(np.mean([seeds[s].auc for s in seeds])), t_vs_uniform=t, p_vs_uniform=p,
                    seeds=sorted(seeds))
            )
        rows.sort(key=lambda row: (-row.mean, row.agent))
        for i, row in enumerate(rows):
            row.rank = i + 1
        out[env] = rows
    return out


def overall(boards: dict[str, list[Row]]) -> list[tuple[str, float, int]]:
    """(agent, mean normalised rank, number of envs), best first. A board with a single agent
    ranks nobody against anybody, so it does not count (a lone agent would otherwise be
    "top" of it)."""
    ranks: dict[str, list[float]] = {}
    for rows in boards.values():
        if len(rows) < 2:
            continue
        for row in rows:
            ranks.setdefault(row.agent, []).append((row.rank - 1) / max(len(rows) - 1, 1))
    table = [(agent, float(np.mean(r)), len(r)) for agent, r in ranks.items()]
    return sorted(table, key=lambda x: (x[1], x[0]))


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, spec)


def markdown(boards: dict[str, list[Row]], uniform_names: dict[str, str] | None = None) -> str:
    lines = ["# datagym leaderboard", ""]
    lines += [
        "Final macro test accuracy over seeds (mean and 95% t-interval), gain over `no_teaching`, "
        "area under the validation curve (mean macro validation accuracy over steps, reset "
        "included), and Welch's t-test against the uniform teacher of the env's level.",
        "",
        "## Overall",
        "",
        "| rank | agent | mean normalised rank (0 = top) | envs |",
        "|---|---|---|---|",
    ]
    for i, (agent, score, n) in enumerate(overall(boards), start=1):
        lines.append(f"| {i} | {agent} | {score:.3f} | {n} |")
    for env, rows in boards.items():
        base = (uniform_names or {}).get(env, "uniform")
        lines += [
            "",
            f"## {env}",
            "",
            f"| rank | agent | seeds | test macro accuracy | 95% interval | gain over no_teaching | validation AUC | Welch t vs {base} | p |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row.rank} | {row.agent} | {row.n} | {row.mean:.4f} | [{row.low:.4f}, {row.high:.4f}] | "
                f"{_fmt(row.gain_over_floor, '+.4f')} | {row.auc:.4f} | {_fmt(row.t_vs_uniform, '+.2f')} | "
                f"{_fmt(row.p_vs_uniform, '.3g')} |"
            )
        name = slug(env)
        lines += [
            "",
            f"The same rows as CSV: [leaderboard_{name}.csv](leaderboard_{name}.csv).",
            "",
            f"![{env}: macro validation accuracy per step, mean and 95% band over seeds](curves_{name}.png)",
        ]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "agent", "seeds", "test_mean", "test_ci95_low", "test_ci95_high",
                     "gain_over_no_teaching", "validation_auc", "welch_t_vs_uniform", "welch_p_vs_uniform"])
    for row in rows:
        writer.writerow([row.rank, row.agent, row.n, f"{row.mean:.6f}", f"{row.low:.6f}", f"{row.high:.6f}",
                         _fmt(row.gain_over_floor, ".6f"), f"{row.auc:.6f}", _fmt(row.t_vs_uniform, ".6f"),
                         _fmt(row.p_vs_uniform, ".6g")])
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
