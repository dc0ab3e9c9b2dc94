"""The leaderboard's statistics: Holm's correction, the normalised overall view and its bootstrap,
and rank stability between seed halves, each checked against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from datagym.board_statistics import holm, normalised_scores, overall_scores, rank_stability


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, None, 0.03, 0.5]
    # sorted: 0.01*4, max(prev, 0.03*3), max(prev, 0.04*2), max(prev, 0.5*1)
    assert holm(p) == pytest.approx([0.04, 0.09, None, 0.09, 0.5]) or holm(p)[2] is None
    adjusted = holm(p)
    assert adjusted[2] is None
    assert adjusted[0] == pytest.approx(0.04) and adjusted[3] == pytest.approx(0.09)
    assert adjusted[1] == pytest.approx(0.09) and adjusted[4] == pytest.approx(0.5)
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == [] and holm([None]) == [None]


def test_holm_agrees_with_a_brute_force_implementation_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = list(rng.random(int(rng.integers(1, 9))) ** 3)
        m, order = len(p), np.argsort(p)
        expected = np.empty(m)
        for k, i in enumerate(order):
            expected[i] = min(1.0, max((m - j) * p[order[j]] for j in range(k + 1)))
        assert holm(p) == pytest.approx(list(expected))


def test_normalised_scores_put_the_floor_at_0_and_uniform_at_1():
    tests = {"e": {"no_teaching": [0.1, 0.1], "uniform": [0.3, 0.5], "smart": [0.6, 0.6]}}
    scaled, skipped = normalised_scores(tests, {"e": ("no_teaching", "uniform")})
    assert skipped == []
    np.testing.assert_allclose(scaled["e"]["smart"], [5 / 3, 5 / 3])
    assert scaled["e"]["uniform"].mean() == pytest.approx(1.0) and scaled["e"]["no_teaching"].mean() == 0.0
    flat = {"e": {"no_teaching": [0.0], "uniform": [0.0], "smart": [0.2]}}
    assert normalised_scores(flat, {"e": ("no_teaching", "uniform")}) == ({}, ["e"])


def test_the_bootstrap_interval_covers_the_mean_and_is_reproducible():
    scaled = {"e": {"a": np.array([0.5, 1.0, 1.5, 2.0]), "b": np.array([1.0, 1.0, 1.0, 1.0])}}
    first, second = overall_scores(scaled), overall_scores(scaled)
    assert first == second
    a = next(x for x in first if x.agent == "a")
    assert a.score == pytest.approx(1.25) and a.low < 1.25 < a.high and a.low >= 0.5 and a.high <= 2.0
    b = next(x for x in first if x.agent == "b")
    assert (b.low, b.score, b.high) == (1.0, 1.0, 1.0)


def test_rank_stability_is_kendalls_tau_between_alternate_seed_halves():
    tests = {"a": {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.1}, "b": {0: 0.5, 1: 0.6, 2: 0.4, 3: 0.5},
             "c": {0: 0.3, 1: 0.1, 2: 0.2, 3: 0.4}}
    result = rank_stability(tests)
    assert (result.seeds_a, result.seeds_b) == ([0, 2], [1, 3])
    half_a = [np.mean([tests[x][0], tests[x][2]]) for x in "abc"]
    half_b = [np.mean([tests[x][1], tests[x][3]]) for x in "abc"]
    assert result.tau == pytest.approx(stats.kendalltau(half_a, half_b).statistic)
    assert rank_stability({"a": {0: 0.1}}).tau is None  # one agent
    assert rank_stability({"a": {0: 0.1}, "b": {0: 0.2}}).tau is None  # one common seed
