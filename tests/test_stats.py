"""Intervals over seeds and examples, verdicts and tables (attention_course.stats)."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from attention_course import stats


def test_one_seed_interval_is_the_t_interval_over_examples():
    scores = np.array([[1, 0, 1, 1, 0, 1, 1, 1.0]]) * 0.5  # ends inside [0, 1]
    got = stats.mean_interval(scores)
    expected = scipy_stats.t.interval(0.95, df=7, loc=scores.mean(),
                                      scale=scores.std(ddof=1) / np.sqrt(8))
    assert got.estimate == pytest.approx(0.375)
    assert (got.low, got.high) == pytest.approx(expected)
    assert not got.seed_variation
    assert "seed variation is not included" in got.describe()


def test_seed_spread_widens_the_interval():
    rng = np.random.default_rng(0)
    base = (rng.random(2000) < 0.8).astype(float)
    same = np.stack([base] * 3)
    shifted = np.stack([base, base, base])
    shifted[0, :200] = 1.0  # one seed much better on some examples: training noise
    shifted[1, :200] = 0.0
    narrow = stats.mean_interval(same)
    wide = stats.mean_interval(shifted)
    assert wide.high - wide.low > 2 * (narrow.high - narrow.low)
    assert wide.per_seed[0] > wide.per_seed[2] > wide.per_seed[1]


def test_paired_difference_is_paired_by_seed_and_example():
    rng = np.random.default_rng(1)
    b = (rng.random((3, 500)) < 0.7).astype(float)
    a = b.copy()
    a[:, :50] = 1.0  # a fixes some of b's errors on every seed
    got = stats.paired_difference(a, b)
    assert got.estimate == pytest.approx((a - b).mean())
    assert got.low > 0 and got.excludes_zero
    assert got.n_seeds == 3 and got.n_examples == 500


def test_identical_models_give_a_zero_width_interval_at_zero():
    a = np.ones((3, 10))
    got = stats.paired_difference(a, a)
    assert (got.estimate, got.low, got.high) == (0.0, 0.0, 0.0)
    assert not got.excludes_zero
    assert stats.verdict(got, "A", "B").direction == "not established"


def test_coverage_of_the_interval_is_near_its_level():
    """Simulated seeds with a true mean: the 95% interval covers it about 95% of the time."""
    rng = np.random.default_rng(2)
    hits = 0
    trials = 400
    for _ in range(trials):
        seed_effects = rng.normal(0, 0.05, size=(4, 1))
        scores = 0.5 + seed_effects + rng.normal(0, 0.3, size=(4, 200))
        got = stats.mean_interval(scores)
        hits += got.low <= 0.5 <= got.high
    assert 0.9 <= hits / trials <= 0.99


@pytest.mark.parametrize(
    ("low_shift", "direction", "start"),
    [(0.3, "higher", "A has higher accuracy than B"),
     (-0.3, "lower", "A has lower accuracy than B"),
     (0.0, "not established", "no difference in accuracy between A and B is established")],
)
def test_verdict_words_follow_the_interval(low_shift, direction, start):
    rng = np.random.default_rng(3)
    b = (rng.random((3, 400)) < 0.5).astype(float)
    a = b.copy()
    if low_shift > 0:
        a[:, :120] = 1.0
        b[:, :120] = 0.0
    elif low_shift < 0:
        a[:, :120] = 0.0
        b[:, :120] = 1.0
    result = stats.verdict(stats.paired_difference(a, b), "A", "B")
    assert result.direction == direction
    assert result.words.startswith(start)
    assert "95% interval" in str(result) and "3 seeds × 400 examples" in str(result)


def test_bucket_intervals_match_the_overall_interval_per_bucket():
    rng = np.random.default_rng(4)
    scores = (rng.random((3, 300)) < 0.8).astype(float)
    lengths = rng.integers(0, 700, size=300)
    rows = stats.bucket_intervals(scores, lengths, (0, 100, 300))
    assert [r["label"] for r in rows] == ["<100", "100-299", "300+"]
    assert sum(r["count"] for r in rows) == 300
    inside = (lengths >= 100) & (lengths < 300)
    alone = stats.mean_interval(scores[:, inside])
    assert rows[1]["accuracy"] == pytest.approx(alone.estimate)
    assert (rows[1]["ci_low"], rows[1]["ci_high"]) == pytest.approx((alone.low, alone.high))
    empty = stats.bucket_intervals(scores, np.full(300, 5), (0, 100))
    assert empty[1]["count"] == 0 and empty[1]["accuracy"] is None


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"\(n_seeds, n_examples\).*\[None, :\]"):
        stats.mean_interval(np.ones(5))
    with pytest.raises(ValueError, match="paired.*\\(3, 4\\) and \\(2, 4\\)"):
        stats.paired_difference(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        stats.mean_interval([[1.0, np.nan, 0.0]])
    with pytest.raises(ValueError, match="level"):
        stats.mean_interval(np.ones((2, 3)), level=95)
    with pytest.raises(ValueError, match="lengths must have one entry per example"):
        stats.bucket_intervals(np.ones((2, 3)), [1, 2], (0, 10))
    with pytest.raises(TypeError, match="stats.Interval"):
        stats.verdict((0.1, 0.0, 0.2), "A", "B")


def test_markdown_table_formats_and_escapes():
    rows = [{"model": "GRU | attention", "accuracy": 0.8712, "n": 5000},
            {"model": "bag", "accuracy": None, "n": 12}]
    text = stats.markdown_table(rows, [("model", "model", None),
                                       ("accuracy", "test accuracy", ".3f"),
                                       ("n", "reviews", ",d")])
    assert text.splitlines() == [
        "| model | test accuracy | reviews |",
        "|:---|---:|---:|",
        "| GRU \\| attention | 0.871 | 5,000 |",
        "| bag | – | 12 |",
    ]
    with pytest.raises(KeyError, match="no row has the column 'loss'"):
        stats.markdown_table(rows, [("loss", "loss", ".2f")])
    assert stats.results_table(rows, [("n", "n", "d")]).data.startswith("| n |")


def test_intervals_of_unit_scores_stay_within_their_possible_range():
    # 3 seeds near perfect on 40 examples: the t-interval's upper end passes 1.
    rng = np.random.default_rng(0)
    near_one = (rng.random((3, 40)) > np.array([[0.0], [0.05], [0.02]])).astype(float)
    zeros = np.zeros_like(near_one)
    accuracy = stats.mean_interval(near_one)
    assert accuracy.high == 1.0 and 0 <= accuracy.low < accuracy.estimate
    difference = stats.paired_difference(near_one, zeros)
    assert difference.high == 1.0 and difference.low < difference.estimate
    assert stats.paired_difference(zeros, near_one).low == -1.0
    # Scores outside [0, 1] (say, losses) have no known bound and are not cut.
    assert stats.mean_interval(near_one * 5).high > 5 * accuracy.estimate
    assert stats.mean_interval(near_one).describe(unit="%", signed=False).startswith(
        f"{100 * accuracy.estimate:.1f}% (95% interval")
