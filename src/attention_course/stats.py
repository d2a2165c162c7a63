"""Intervals over seeds and examples, verdicts computed from them, and results tables.

A chapter that compares two models trains each with the same seeds and evaluates them on the
same examples. Two sources of noise blur the difference it measures: the **seeds** (a second
training run of the same model differs) and the **examples** (another test set would differ).
The functions here take per-example scores as arrays of shape ``(n_seeds, n_examples)``, for
instance 0/1 correctness or exact match, and return an :class:`Interval` whose width includes
both.

Method: the estimate is the mean over seeds and examples. Its standard error adds the variance
between seeds (of the per-seed means, over ``n_seeds``) and the variance between examples (of the
per-example means over seeds, over ``n_examples``); the interval is a Student-t interval with
Welch–Satterthwaite degrees of freedom. With few seeds the seed term dominates and the interval is
wide, as it should be (with 3 seeds the t quantile alone is 4.3). With one seed the seed variance
cannot be estimated: the interval then covers only the examples, and says so
(``Interval.seed_variation`` is False). Reference: Welch (1947); the practice of reporting
spread over training seeds follows Dodge et al. (2019), Bouthillier et al. (2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

__all__ = [
    "Interval",
    "Verdict",
    "bucket_intervals",
    "markdown_table",
    "mean_interval",
    "paired_difference",
    "results_table",
    "verdict",
]


@dataclass(frozen=True)
class Interval:
    """A mean with a confidence interval over seeds and examples.

    ``estimate``, ``low`` and ``high`` are in the scores' units (e.g. a fraction for 0/1
    correctness); ``per_seed`` holds each seed's mean; ``level`` is the coverage (0.95).
    ``seed_variation`` is False when one seed was given and the interval covers only the
    examples.
    """

    estimate: float
    low: float
    high: float
    level: float
    per_seed: tuple[float, ...]
    n_seeds: int
    n_examples: int

    @property
    def seed_variation(self) -> bool:
        return self.n_seeds > 1

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0."""
        return self.low > 0 or self.high < 0

    def describe(self, scale: float = 100.0, unit: str = "points", signed: bool = True) -> str:
        """E.g. ``"+2.1 points (95% interval +0.3 to +4.0; 3 seeds × 5,000 examples)"``."""
        fmt = "{:+.1f}" if signed else "{:.1f}"
        est, low, high = (fmt.format(scale * v) for v in (self.estimate, self.low, self.high))
        seeds = f"{self.n_seeds} seed{'s' if self.n_seeds != 1 else ''}"
        note = "" if self.seed_variation else ", so seed variation is not included"
        space = f" {unit}" if unit and unit != "%" else unit
        return (f"{est}{space} ({self.level:.0%} interval {low} to {high}; "
                f"{seeds} × {self.n_examples:,} examples{note})")


def _scores(name: str, values) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers of shape (n_seeds, n_examples): {err}") from None
    if array.ndim == 1:
        raise ValueError(
            f"{name} must have shape (n_seeds, n_examples), got shape {array.shape}; for one "
            f"seed pass {name}[None, :]"
        )
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (n_seeds, n_examples) with at least 1 seed and 2 "
            f"examples, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite scores; every score must be finite")
    return array


def _check_level(level: float) -> float:
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return level


def _unit_bounds(scores: np.ndarray, low: float) -> tuple[float, float] | None:
    """(low, 1) when every score lies in [0, 1], else None (no bound is known)."""
    return (low, 1.0) if scores.min() >= 0 and scores.max() <= 1 else None


def _interval(scores: np.ndarray, level: float,
              bounds: tuple[float, float] | None = None) -> Interval:
    n_seeds, n_examples = scores.shape
    estimate = float(scores.mean())
    per_seed = scores.mean(axis=1)
    per_example = scores.mean(axis=0)
    var_examples = per_example.var(ddof=1) / n_examples
    var_seeds = per_seed.var(ddof=1) / n_seeds if n_seeds > 1 else 0.0
    se2 = var_seeds + var_examples
    if se2 <= 0:
        low = high = estimate
    else:
        parts = [(var_examples, n_examples - 1)]
        if n_seeds > 1:
            parts.append((var_seeds, n_seeds - 1))
        dof = se2**2 / sum(v**2 / d for v, d in parts if v > 0)
        half = float(_scipy_stats.t.ppf(0.5 + level / 2, dof)) * np.sqrt(se2)
        low, high = estimate - half, estimate + half
        if bounds is not None:
            low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(estimate=estimate, low=float(low), high=float(high), level=level,
                    per_seed=tuple(float(v) for v in per_seed), n_seeds=n_seeds,
                    n_examples=n_examples)


def mean_interval(scores, level: float = 0.95) -> Interval:
    """Mean of ``scores`` (n_seeds, n_examples) with an interval over seeds and examples.

    For one model's accuracy: pass its 0/1 correctness per seed and example. When every score
    lies in [0, 1] (correctness, exact match, a fraction) the interval is cut to [0, 1]: a mean
    of such scores cannot leave it, though a t-interval near 0 or 1 does. Raises
    ``ValueError`` for another shape (a 1-D array included: say which axis is the seeds), fewer
    than 2 examples, or non-finite scores.
    """
    scores = _scores("scores", scores)
    return _interval(scores, _check_level(level), _unit_bounds(scores, 0.0))


def paired_difference(a, b, level: float = 0.95) -> Interval:
    """Mean of ``a - b`` over seeds and examples, with an interval that includes both.

    ``a`` and ``b`` are per-example scores of two models, shape (n_seeds, n_examples): row s
    of each comes from the run with seed s, column i from example i, so the comparison is paired
    by seed and by example. When every score lies in [0, 1] the interval is cut to [-1, 1].
    Raises ``ValueError`` when the shapes differ or are not 2-D.
    """
    a, b = _scores("a", a), _scores("b", b)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must be paired: same (n_seeds, n_examples), got {a.shape} and {b.shape}"
        )
    return _interval(a - b, _check_level(level),
                     _unit_bounds(np.concatenate([a, b]), -1.0))


@dataclass(frozen=True)
class Verdict:
    """The direction an interval supports, and a sentence fragment that states it.

    ``direction`` is ``"higher"`` (interval above 0), ``"lower"`` (below 0) or
    ``"not established"`` (the interval contains 0).
    """

    direction: str
    words: str
    interval: Interval

    def __str__(self) -> str:
        return self.words


def verdict(interval: Interval, subject: str, other: str, quantity: str = "accuracy",
            scale: float = 100.0, unit: str = "points") -> Verdict:
    """Plain words for ``interval`` (of ``subject`` minus ``other``), computed from its ends.

    Example: ``"GRU + attention has higher accuracy than GRU + mean pooling: +2.1 points (95%
    interval +0.3 to +4.0; 3 seeds × 5,000 examples)"``. When the interval contains 0 the words
    say that no difference is established; they never claim a direction the interval does not
    support.
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"interval must be a stats.Interval, got {type(interval).__name__}")
    size = interval.describe(scale=scale, unit=unit)
    if interval.low > 0:
        direction = "higher"
    elif interval.high < 0:
        direction = "lower"
    else:
        direction = "not established"
    if direction == "not established":
        words = f"no difference in {quantity} between {subject} and {other} is established: {size}"
    else:
        words = f"{subject} has {direction} {quantity} than {other}: {size}"
    return Verdict(direction=direction, words=words, interval=interval)


def bucket_intervals(scores, lengths, edges, level: float = 0.95) -> list[dict]:
    """One model's mean score in each length bucket, with an interval over seeds and examples.

    ``scores`` (n_seeds, n_examples), ``lengths`` (n_examples,) ints; ``edges`` are the buckets'
    lower edges, starting at 0 and increasing (bucket i holds ``[edges[i], edges[i+1])``, the
    last one everything above). Returns, per bucket, a dict with ``label``, ``low``, ``high``
    (None for the last bucket), ``count``, ``accuracy`` (the mean score) and the interval's ends
    ``ci_low`` and ``ci_high``; a bucket with fewer than 2 examples holds None in those three.
    The dicts plot with :func:`attention_course.plots.plot_accuracy_by_length`, which draws the
    interval.
    """
    from attention_course.training import bucket_labels, bucket_of

    scores = _scores("scores", scores)
    level = _check_level(level)
    lengths = np.asarray(lengths).ravel()
    if lengths.shape != (scores.shape[1],):
        raise ValueError(
            f"lengths must have one entry per example, shape ({scores.shape[1]},), got "
            f"{lengths.shape}"
        )
    which = bucket_of(lengths, edges)
    labels = bucket_labels(edges)
    edges = [int(e) for e in edges]
    out = []
    for index, label in enumerate(labels):
        inside = which == index
        count = int(inside.sum())
        row = {"label": label, "low": edges[index],
               "high": edges[index + 1] if index + 1 < len(edges) else None, "count": count,
               "accuracy": None, "ci_low": None, "ci_high": None}
        if count >= 2:
            part = _interval(scores[:, inside], level)
            row.update(accuracy=part.estimate, ci_low=part.low, ci_high=part.high)
        out.append(row)
    return out


def markdown_table(rows, columns) -> str:
    """A Markdown table of ``rows`` (dicts) with ``columns``: ``(key, header, format)`` triples.

    ``format`` is a format spec such as ``".3f"`` or ``",d"``, or a function of the value, or
    None for ``str``; a missing or None value shows as an en dash. Raises ``ValueError`` for no
    columns and ``KeyError`` naming a column no row has.
    """
    columns = list(columns)
    if not columns:
        raise ValueError("a table needs at least one column")
    rows = list(rows)
    for key, _, _ in columns:
        if rows and all(key not in row for row in rows):
            raise KeyError(f"no row has the column {key!r}; keys: {sorted(rows[0])}")

    def cell(value, fmt) -> str:
        if value is None:
            return "–"
        if callable(fmt):
            text = fmt(value)
        elif fmt:
            text = format(value, fmt)
        else:
            text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    aligns = ["---:" if fmt and not callable(fmt) else ":---" for _, _, fmt in columns]
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "|".join(aligns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(k), f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def results_table(rows, columns):
    """:func:`markdown_table` as an ``IPython.display.Markdown`` object, for ``glue`` or display.

    Glue it with ``glue("name", table, display=False)`` and show it with ``{glue:md}`` (or
    display it in a cell); do not print the same table as text beside it.
    """
    from IPython.display import Markdown

    return Markdown(markdown_table(rows, columns))
