import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from datagym.allocation import round_shares


def test_leftover_goes_to_the_largest_fractions_ties_to_the_lower_index():
    np.testing.assert_array_equal(round_shares(np.array([1.5, 2.7, 0.8]), 5), [1, 3, 1])
    np.testing.assert_array_equal(round_shares(np.array([1.5, 1.5, 2.0]), 5), [2, 1, 2])
    np.testing.assert_array_equal(round_shares(np.array([4 / 3] * 3), 4), [2, 1, 1])


def test_whole_shares_are_kept():
    np.testing.assert_array_equal(round_shares(np.array([3.0, 0.0, 2.0]), 5), [3, 0, 2])


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=20), st.integers(0, 5000))
def test_counts_sum_to_total_and_stay_within_one_of_the_share(weights, total):
    w = np.asarray(weights)
    assume(w.sum() > 0)
    share = w / w.sum() * total
    counts = round_shares(share, total)
    assert counts.sum() == total
    assert np.all(np.abs(counts - share) < 1.0 + 1e-9)
