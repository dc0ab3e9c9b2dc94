"""Statistics the leaderboard reports: the ones that hold up when many teachers are compared.

- ``holm``: Holm's step-down correction of a board's p-values (every teacher is tested against
  the same floor, so the family-wise error rate is what a reader needs bounded).
- ``normalised_scores``: each agent's test accuracy on an env scaled between that env's
  ``no_teaching`` (0) and its level's uniform teacher (1), so scores of different envs and levels
  share one scale; the overall view is the mean of an agent's env scores with a bootstrap interval
  (seeds resampled within each env). Agents are never ranked against agents they share no env
  with.
- ``rank_stability``: Kendall's tau between the rankings a board gets from two disjoint halves of
  its seeds: how far a board's order is a property of the teachers rather than of the seeds.

Written here rather than taken from a library: scipy has Kendall's tau and the t-tests (used),
but neither scipy nor statsmodels' ``multipletests`` (statsmodels is not a dependency) covers
the None entries a board has, and the bootstrap is a few lines over our own data layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

#: resamples of the overall view's bootstrap; its generator is fixed, so a board is reproducible
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values, in the input order; None entries (no test) stay None and do not
    count in the family."""
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - k) * float(p)))  # step-down: never below an earlier one
        adjusted[i] = running
    return adjusted


@dataclass
class OverallScore:
    """An agent's overall view: its mean normalised score over the envs it ran on."""

    agent: str
    envs: int
    score: float
    low: float
    high: float


def normalised_scores(
    tests: Mapping[str, Mapping[str, Sequence[float]]], references: Mapping[str, tuple[str, str]]
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Per env and agent, the per-seed test accuracies scaled to (x - floor) / (uniform - floor).

    ``tests[env][agent]`` are an agent's per-seed test accuracies; ``references[env]`` names the
    env's floor and uniform agents. Returns the scaled scores, and the envs left out (no floor
    or uniform run, or uniform no better than the floor: the scale is undefined there)."""
    scaled: dict[str, dict[str, np.ndarray]] = {}
    skipped = []
    for env, agents in tests.items():
        floor_name, uniform_name = references[env]
        if floor_name not in agents or uniform_name not in agents:
            skipped.append(env)
            continue
        floor, uniform = float(np.mean(agents[floor_name])), float(np.mean(agents[uniform_name]))
        if not uniform > floor:
            skipped.append(env)
            continue
        scaled[env] = {agent: (np.asarray(v, dtype=float) - floor) / (uniform - floor) for agent, v in agents.items()}
    return scaled, skipped


def overall_scores(scaled: Mapping[str, Mapping[str, np.ndarray]]) -> list[OverallScore]:
    """Each agent's mean normalised score over its envs, with a 95% percentile-bootstrap interval
    (each env's seeds resampled with replacement), best first."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    per_agent: dict[str, list[np.ndarray]] = {}
    for env in sorted(scaled):
        for agent, values in sorted(scaled[env].items()):
            per_agent.setdefault(agent, []).append(values)
    out = []
    for agent, envs in sorted(per_agent.items()):
        score = float(np.mean([v.mean() for v in envs]))
        draws = np.zeros(BOOTSTRAP_RESAMPLES)
        for values in envs:
            picks = rng.integers(len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
            draws += values[picks].mean(axis=1)
        draws /= len(envs)
        low, high = (float(x) for x in np.percentile(draws, [2.5, 97.5]))
        out.append(OverallScore(agent=agent, envs=len(envs), score=score, low=low, high=high))
    return sorted(out, key=lambda s: (-s.score, s.agent))


@dataclass
class RankStability:
    """Kendall's tau between a board's rankings on two disjoint halves of its seeds."""

    tau: float | None
    seeds_a: list[int]
    seeds_b: list[int]
    agents: int


def rank_stability(tests_by_seed: Mapping[str, Mapping[int, float]]) -> RankStability:
    """Split the seeds every agent of a board ran into two halves (alternate seeds, so neither
    half is "the early seeds"), rank the agents by their mean on each, and compare the two
    rankings with Kendall's tau-b (1: the same order, 0: unrelated). None with fewer than two
    agents or two common seeds, or when a half gives every agent the same score."""
    common = sorted(set.intersection(*(set(s) for s in tests_by_seed.values()))) if tests_by_seed else []
    seeds_a, seeds_b = common[0::2], common[1::2]
    if len(tests_by_seed) < 2 or not seeds_b:
        return RankStability(None, seeds_a, seeds_b, len(tests_by_seed))
    agents = sorted(tests_by_seed)
    mean_a = [np.mean([tests_by_seed[a][s] for s in seeds_a]) for a in agents]
    mean_b = [np.mean([tests_by_seed[a][s] for s in seeds_b]) for a in agents]
    if len(set(mean_a)) < 2 or len(set(mean_b)) < 2:
        return RankStability(None, seeds_a, seeds_b, len(agents))
    tau = stats.kendalltau(mean_a, mean_b).statistic
    return RankStability(None if math.isnan(tau) else float(tau), seeds_a, seeds_b, len(agents))
