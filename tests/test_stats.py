"""Tests of benchmark.score.stats against hand-computed cases and rliable/scipy as references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from benchmark.score import stats
from benchmark.score.stats import (
    Estimate,
    bootstrap,
    iqm,
    paired_difference,
    probability_of_improvement,
)

# ----------------------------------------------------------------------------- IQM


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5.0], 5.0),
        ([1.0, 2.0, 3.0], 2.0),  # int(0.75) = 0 cut: plain mean
        ([4.0, 1.0, 3.0, 2.0], 2.5),  # cut one from each end: mean(2, 3)
        ([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0], 3.5),  # cut 2 each end: mean(2..5)
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0], 0.0),
    ],
)
def test_iqm_hand_computed(values, expected):
    assert iqm(values) == pytest.approx(expected)


def test_iqm_matches_scipy_and_rliable_on_random_data():
    from rliable import metrics

    rng = np.random.default_rng(0)
    for shape in [(1, 7), (3, 10), (5, 256), (4, 33)]:
        x = rng.standard_normal(shape) * rng.uniform(0.1, 10)
        assert iqm(x) == pytest.approx(metrics.aggregate_iqm(x), rel=1e-12, abs=1e-12)
        assert iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25, axis=None), rel=1e-12)
        for axis in (0, 1, -1):
            np.testing.assert_allclose(
                iqm(x, axis=axis), scipy.stats.trim_mean(x, 0.25, axis=axis), rtol=1e-12
            )


def test_iqm_is_a_float_for_flat_input():
    assert isinstance(iqm(np.arange(10)), float)


def test_iqm_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        iqm([])


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_point_is_statistic_of_pooled_data():
    a = np.arange(12.0).reshape(3, 4)
    b = np.arange(5.0)[None, :] * 2
    est = bootstrap([a, b], rng=0, reps=200)
    assert est.point == pytest.approx(scipy.stats.trim_mean(np.r_[a.ravel(), b.ravel()], 0.25))
    assert est.low <= est.point <= est.high


def test_bootstrap_is_reproducible_and_defaults_to_a_fixed_seed():
    x = np.random.default_rng(1).standard_normal((3, 40))
    assert bootstrap(x, rng=7) == bootstrap(x, rng=np.random.default_rng(7))
    assert bootstrap(x) == bootstrap(x)
    assert bootstrap(x, rng=7) != bootstrap(x, rng=8)


def test_same_seed_and_shapes_resample_jointly():
    """Replicates of two objectives of the same episodes come from the same resamples."""
    rng = np.random.default_rng(13)
    a = [rng.standard_normal((3, 20)), rng.standard_normal((1, 8))]
    b = [2 * m + 1 for m in a]  # an increasing affine map commutes with IQM
    da = stats.bootstrap_distribution(a, iqm, 300, 5)
    db = stats.bootstrap_distribution(b, iqm, 300, 5)
    np.testing.assert_allclose(db, 2 * da + 1)


def test_bootstrap_constant_data_has_zero_width():
    est = bootstrap([np.full((3, 10), 2.5), np.full((1, 4), 2.5)], reps=100)
    assert est == Estimate(2.5, 2.5, 2.5)


def test_statistic_without_axis_argument_gives_same_result():
    x = np.random.default_rng(2).standard_normal((4, 30))
    fast = bootstrap(x, statistic=iqm, reps=300, rng=3)
    slow = bootstrap(x, statistic=lambda v: iqm(v), reps=300, rng=3)
    assert fast.point == pytest.approx(slow.point)
    assert fast.low == pytest.approx(slow.low)
    assert fast.high == pytest.approx(slow.high)
    mean = bootstrap(x, statistic=np.mean, reps=300, rng=3)
    assert mean.point == pytest.approx(x.mean())


def test_bootstrap_matches_rliable_intervals():
    """One instance per stratum: our bootstrap is rliable's StratifiedBootstrap over tasks."""
    from rliable import library, metrics

    rng = np.random.default_rng(3)
    episodes, n_strata = 120, 3
    scores = rng.gamma(2.0, 1.0, size=(episodes, n_strata)) + np.arange(n_strata)
    np.random.seed(0)  # rliable draws from numpy's global state
    points, intervals = library.get_interval_estimates(
        {"a": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=2000
    )
    ours = bootstrap([scores[:, j] for j in range(n_strata)], reps=2000, rng=0)
    assert ours.point == pytest.approx(points["a"][0])
    ref_low, ref_high = intervals["a"][:, 0]
    width = ref_high - ref_low
    assert ours.low == pytest.approx(ref_low, abs=0.1 * width)
    assert ours.high == pytest.approx(ref_high, abs=0.1 * width)
    assert ours.width == pytest.approx(width, rel=0.15)


def test_bootstrap_coverage_is_nominal():
    """Normal data with a known population IQM (its mean): ~95% of intervals cover it."""
    rng = np.random.default_rng(12345)
    truth, trials, covered = 1.5, 300, 0
    for _ in range(trials):
        a = truth + rng.standard_normal(80)
        b = truth + 2 * rng.standard_normal(80)
        # Two strata of the same centre, so the pooled population IQM is still `truth`.
        covered += bootstrap([a, b], reps=500, rng=rng).contains(truth)
    assert 0.90 <= covered / trials <= 0.99


def test_two_stage_resampling_widens_for_instance_spread():
    """Instances that disagree add uncertainty that resampling only levels would miss."""
    rng = np.random.default_rng(4)
    levels = rng.standard_normal((1, 200))
    same = np.repeat(levels, 5, axis=0)
    spread = same + np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[:, None]
    assert bootstrap(spread, rng=0).width > 1.5 * bootstrap(same, rng=0).width


def test_intervals_narrow_as_episodes_grow():
    rng = np.random.default_rng(5)
    widths = [bootstrap(rng.standard_normal((2, n)), rng=0).width for n in (32, 128, 512)]
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # ~ 1 / sqrt(n)


def test_chunking_gives_the_same_distribution(monkeypatch):
    x = np.random.default_rng(6).standard_normal((3, 50))
    whole = bootstrap(x, reps=2000, rng=0)
    monkeypatch.setattr(stats, "MAX_CHUNK_ELEMENTS", 1000)  # 6 resamples per chunk
    chunked = bootstrap(x, reps=2000, rng=0)
    assert chunked.point == whole.point
    assert chunked.low == pytest.approx(whole.low, abs=0.2 * whole.width)
    assert chunked.high == pytest.approx(whole.high, abs=0.2 * whole.width)


@pytest.mark.parametrize(
    ("strata", "message"),
    [
        ([], "no strata"),
        ([np.zeros((2, 0))], "empty"),
        ([np.zeros((0, 3))], "empty"),
        ([np.array([[1.0, np.nan]])], "NaN"),
        ([np.zeros((2, 2, 2))], "matrix"),
    ],
)
def test_degenerate_input_raises(strata, message):
    with pytest.raises(ValueError, match=message):
        bootstrap(strata)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap(np.ones(3), confidence=95)
    with pytest.raises(ValueError, match="reps"):
        bootstrap(np.ones(3), reps=0)


# ----------------------------------------------------------------------------- paired


def test_paired_difference_of_identical_inputs_is_exactly_zero():
    rng = np.random.default_rng(7)
    x = [rng.standard_normal((3, 40)), rng.standard_normal((1, 25))]
    assert paired_difference(x, [m.copy() for m in x]) == Estimate(0.0, 0.0, 0.0)


def test_paired_difference_detects_a_shift_that_unpaired_intervals_miss():
    rng = np.random.default_rng(8)
    level_difficulty = 3 * rng.standard_normal((1, 100))
    old = level_difficulty + 0.1 * rng.standard_normal((2, 100))
    new = old - 0.3 + 0.1 * rng.standard_normal((2, 100))
    diff = paired_difference([new], [old], rng=0)
    assert diff.point == pytest.approx(iqm(new) - iqm(old))
    assert diff.high < 0  # significantly worse
    # Unpaired intervals overlap: level difficulty swamps the shift.
    a, b = bootstrap(new, rng=0), bootstrap(old, rng=1)
    assert a.high > b.low


def test_paired_difference_shape_mismatch_raises():
    with pytest.raises(ValueError, match="stratum 0"):
        paired_difference([np.ones((2, 3))], [np.ones((2, 4))])
    with pytest.raises(ValueError, match="strata"):
        paired_difference([np.ones(3)], [np.ones(3), np.ones(3)])


# ----------------------------------------------------------------------------- improvement


def test_probability_of_improvement_hand_computed():
    assert probability_of_improvement([np.array([3.0, 4.0])], [np.array([1.0, 3.0])]).point == (
        pytest.approx(3.5 / 4)
    )
    x = np.random.default_rng(9).standard_normal((2, 30))
    same = probability_of_improvement(x, x.copy(), reps=200)
    assert same.point == 0.5
    best = probability_of_improvement(x + 100, x, reps=200)
    assert best == Estimate(1.0, 1.0, 1.0)
    worst = probability_of_improvement(x, x + 100, reps=200)
    assert worst == Estimate(0.0, 0.0, 0.0)
    # Averaged over strata.
    mixed = probability_of_improvement([x + 100, x], [x, x + 100], reps=200)
    assert mixed.point == 0.5


def test_probability_of_improvement_matches_rliable_and_mann_whitney():
    from rliable import metrics

    rng = np.random.default_rng(10)
    runs_x, runs_y, tasks = 12, 9, 4
    sx = rng.integers(0, 6, size=(runs_x, tasks)).astype(float)  # many ties
    sy = rng.integers(0, 5, size=(runs_y, tasks)).astype(float)
    ours = probability_of_improvement(
        [sx[:, t] for t in range(tasks)], [sy[:, t] for t in range(tasks)], reps=500
    )
    assert ours.point == pytest.approx(metrics.probability_of_improvement(sx, sy))
    u = scipy.stats.mannwhitneyu(sx[:, 0], sy[:, 0]).statistic / (runs_x * runs_y)
    assert probability_of_improvement(sx[:, 0], sy[:, 0], reps=10).point == pytest.approx(u)
    assert 0 <= ours.low <= ours.point <= ours.high <= 1


def test_probability_of_improvement_interval_matches_rliable():
    from rliable import library, metrics

    rng = np.random.default_rng(11)
    sx = rng.standard_normal((60, 2)) + 0.3
    sy = rng.standard_normal((60, 2))
    np.random.seed(0)
    _, intervals = library.get_interval_estimates(
        {"xy": [sx, sy]},
        lambda x, y: np.array([metrics.probability_of_improvement(x, y)]),
        reps=500,
    )
    ours = probability_of_improvement([sx[:, 0], sx[:, 1]], [sy[:, 0], sy[:, 1]], reps=2000)
    ref_low, ref_high = intervals["xy"][:, 0]
    assert ours.low == pytest.approx(ref_low, abs=0.03)
    assert ours.high == pytest.approx(ref_high, abs=0.03)


def test_probability_of_improvement_degenerate():
    with pytest.raises(ValueError, match="strata"):
        probability_of_improvement([np.ones(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="NaN"):
        probability_of_improvement([np.array([np.nan])], [np.ones(2)])
