"""Stratified label subsets (by count or fraction) and their matched optimizer steps."""

import numpy as np
import pytest

from dim_tf.evaluators.probes import label_subsets

LABELS = np.array([0, 1, 0, 2, 0, 1, 0, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0])
# Class sizes: 0 -> 14, 1 -> 4, 2 -> 2.


def test_a_count_takes_the_first_examples_of_each_class():
    rows = label_subsets.stratified_rows(LABELS, 3, per_class=2)
    np.testing.assert_array_equal(rows, [0, 2, 1, 5, 3, 12])


@pytest.mark.parametrize(
    "fraction, per_class",
    [(0.5, [7, 2, 1]), (0.1, [1, 1, 1]), (1.0, [14, 4, 2]), (0.3, [4, 1, 1])],
)
def test_a_fraction_takes_that_share_of_each_class_at_least_one(fraction, per_class):
    rows = label_subsets.stratified_rows(LABELS, 3, fraction=fraction, seed=3)
    assert len(set(rows)) == len(rows)
    assert np.bincount(LABELS[rows], minlength=3).tolist() == per_class


def test_a_fraction_is_a_seeded_draw():
    draw = [
        tuple(label_subsets.stratified_rows(LABELS, 3, fraction=0.5, seed=seed))
        for seed in (0, 0, 1)
    ]
    assert draw[0] == draw[1] != draw[2]


@pytest.mark.parametrize(
    "full, subset, batch, epochs, drop, expected",
    [
        (1000, 100, 64, 20, False, 160),  # 16 steps an epoch over all, 2 over 100
        (1000, 10, 64, 20, False, 320),
        (1000, 100, 64, 2, True, 30),  # 15 full batches, 1 of 64 over 100
        (1000, 10, 64, 2, True, 30),  # a batch of 10 when fewer than 64
    ],
)
def test_subset_probes_take_as_many_steps_as_full_ones(
    full, subset, batch, epochs, drop, expected
):
    assert label_subsets.matched_epochs(full, subset, batch, epochs, drop) == expected
