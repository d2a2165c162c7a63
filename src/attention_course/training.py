"""Training and evaluation helpers that honour the run profile, and accuracy by review length.

Shapes: padded reviews ``x`` are int matrices (n, maxlen); labels ``y`` are (n,) arrays of 0/1;
predicted probabilities are (n,) floats in [0, 1]; review ``lengths`` are (n,) ints counted
before any truncation (``data.review_lengths`` of the ragged reviews).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from attention_course.data import ImdbSplits

# Lower edges of the review-length buckets (ids, start marker included, before truncation):
# [0, 100), [100, 200), [200, 300), [300, 500) and 500 or more. Chapters comparing models by
# length use these edges, so their results line up.
LENGTH_BUCKETS: tuple[int, ...] = (0, 100, 200, 300, 500)


@dataclass
class TrainingRun:
    """What :func:`fit_model` returns: per-epoch metrics and the wall-clock training time.

    ``history`` maps a metric to its per-epoch values (``epochs_run`` of them: fewer than
    ``epochs`` when training stopped early). ``best_epoch`` (1-based) is the epoch whose
    weights the model holds after :func:`fit_model`, chosen by ``monitor``; None when no
    epoch was restored (the model then holds the last epoch's weights).
    """

    history: dict[str, list[float]]
    seconds: float
    epochs: int
    batch_size: int
    train_size: int
    best_epoch: int | None = None
    monitor: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        """How many epochs were trained (early stopping can end before ``epochs``)."""
        return len(next(iter(self.history.values()), []))

    @property
    def kept_epoch(self) -> int:
        """The 1-based epoch whose weights the model holds: ``best_epoch``, else the last."""
        return self.best_epoch if self.best_epoch is not None else self.epochs_run

    def _values(self, metric: str) -> list[float]:
        if metric not in self.history:
            raise KeyError(f"no metric {metric!r}; recorded: {', '.join(self.history)}")
        return self.history[metric]

    def last(self, metric: str) -> float:
        """The final epoch's value of ``metric`` (e.g. ``"val_accuracy"``)."""
        return self._values(metric)[-1]

    def kept(self, metric: str) -> float:
        """``metric`` at the kept epoch: the value that belongs to the model's weights.

        With the epoch chosen by its validation accuracy, ``kept("val_accuracy")`` is the
        maximum over epochs, an optimistic estimate of accuracy on new reviews (the choice
        was made on those same validation reviews).
        """
        return self._values(metric)[self.kept_epoch - 1]


def _check_pair(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.dtype == object:
        raise ValueError(
            f"{what} reviews must be a padded int matrix (n, maxlen), got shape {x.shape} "
            f"dtype {x.dtype} (pad ragged reviews with data.pad_reviews first)"
        )
    if y.shape != (len(x),):
        raise ValueError(f"{what} labels must have shape ({len(x)},), got {y.shape}")
    return x.astype(np.int32), y.astype(np.float32)


def training_arrays(splits_or_arrays, maxlen: int):
    """``((x_train, y_train), (x_val, y_val))`` as padded int32 matrices and float32 labels.

    Accepts an :class:`~attention_course.data.ImdbSplits` (padded to ``maxlen`` at the end,
    keeping each review's first ``maxlen`` ids) or the pair of pairs itself.
    """
    if isinstance(splits_or_arrays, ImdbSplits):
        x_train, x_val, _ = splits_or_arrays.padded(maxlen)
        pairs = ((x_train, splits_or_arrays.y_train), (x_val, splits_or_arrays.y_val))
    else:
        try:
            (x_train, y_train), (x_val, y_val) = splits_or_arrays
        except (TypeError, ValueError) as err:
            raise ValueError(
                "expected ImdbSplits or ((x_train, y_train), (x_val, y_val))"
            ) from err
        pairs = ((x_train, y_train), (x_val, y_val))
    return _check_pair(*pairs[0], "training"), _check_pair(*pairs[1], "validation")


def fit_model(
    model,
    splits_or_arrays,
    profile,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    maxlen: int | None = None,
    callbacks=None,
    verbose: int = 2,
    bucket_by_length: bool = False,
    seed: int = 0,
    keep_best: str | None = "val_accuracy",
    patience: int | None = None,
) -> TrainingRun:
    """Train a compiled ``model`` on the training reviews, validating after each epoch.

    ``epochs``, ``batch_size`` and ``maxlen`` default to the profile's (a dry-run profile
    trains one epoch whatever ``epochs`` says). ``verbose=2`` prints
    one line per epoch, and a last line naming the kept epoch. With ``bucket_by_length``
    each training batch holds reviews of similar length, cut to the longest
    (:func:`attention_course.batching.length_bucketed`, shuffled from ``seed``; the
    validation reviews are batched the same way, unshuffled): each review's output is
    unchanged (the mask hides the padding), and far fewer padded steps are computed.

    Best epoch: with ``keep_best`` (a logged metric, by default ``"val_accuracy"``; higher is
    better unless its name contains "loss") the model ends with the weights of the epoch
    where that metric was best (the first such epoch on a tie), through
    ``keras.callbacks.EarlyStopping(restore_best_weights=True)``. ``patience`` stops training
    after that many epochs without improvement (None: train every epoch). ``keep_best=None``
    keeps the last epoch's weights.

    Returns a :class:`TrainingRun` with the history, the time taken and the kept epoch.
    Raises ``ValueError`` for ragged or mis-shaped reviews, a ``patience`` below 1, or a
    ``keep_best`` metric that training did not log.
    """
    import keras

    epochs = profile.epochs if epochs is None else epochs
    if getattr(profile, "dry_run", False):
        epochs = 1  # a dry run executes the code paths, not the training (config.py)
    batch_size = profile.batch_size if batch_size is None else batch_size
    maxlen = profile.maxlen if maxlen is None else maxlen
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    (x_train, y_train), (x_val, y_val) = training_arrays(splits_or_arrays, maxlen)
    if bucket_by_length:
        from attention_course.batching import length_bucketed

        inputs = {
            "x": length_bucketed(x_train, y_train, batch_size, shuffle=True, seed=seed),
            "validation_data": length_bucketed(x_val, y_val, batch_size, shuffle=False),
            "shuffle": False,
        }
    else:
        inputs = {"x": x_train, "y": y_train, "batch_size": batch_size,
                  "validation_data": (x_val, y_val)}
    callbacks = list(callbacks or [])
    keeper = None
    if keep_best is not None:
        keeper = keras.callbacks.EarlyStopping(
            monitor=keep_best, patience=epochs if patience is None else patience,
            mode="min" if "loss" in keep_best else "max", restore_best_weights=True,
            verbose=0)
        callbacks.append(keeper)
    start = time.perf_counter()
    history = model.fit(**inputs, epochs=epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    metrics = {k: [float(v) for v in values] for k, values in history.history.items()}
    best_epoch = None
    if keeper is not None:
        if keep_best not in metrics:
            raise ValueError(
                f"keep_best={keep_best!r} was not logged during training; logged: "
                f"{', '.join(metrics)}"
            )
        best_epoch = keeper.best_epoch + 1
    run = TrainingRun(metrics, seconds, epochs, batch_size, len(x_train), best_epoch,
                      keep_best)
    if verbose and keeper is not None:
        print(f"kept epoch {run.kept_epoch} of {run.epochs_run} "
              f"({keep_best} {run.kept(keep_best):.4f})")
    return run


def predict_probabilities(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's probability of "positive" for each padded review: shape (n,)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a padded matrix (n, maxlen), got shape {x.shape}")
    probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(probabilities, dtype=np.float64).reshape(len(x))


def accuracy(y_true, y_prob, threshold: float = 0.5) -> float:
    """Share of reviews whose thresholded probability equals the 0/1 label."""
    y_true, y_prob = np.asarray(y_true).ravel(), np.asarray(y_prob).ravel()
    if y_true.shape != y_prob.shape or y_true.size == 0:
        raise ValueError(
            f"y_true and y_prob must be non-empty and the same length, got "
            f"{np.shape(y_true)} and {np.shape(y_prob)}"
        )
    return float(np.mean((y_prob >= threshold) == (y_true == 1)))


@dataclass
class Evaluation:
    """Accuracy on a split and the probabilities it came from, shape (n,)."""

    accuracy: float
    probabilities: np.ndarray


def evaluate(model, x, y, batch_size: int = 256) -> Evaluation:
    """Accuracy of ``model`` on padded reviews ``x`` (n, maxlen) with labels ``y`` (n,)."""
    x, y = _check_pair(x, y, "evaluation")
    probabilities = predict_probabilities(model, x, batch_size)
    return Evaluation(accuracy(y, probabilities), probabilities)


def bucket_labels(edges=LENGTH_BUCKETS) -> list[str]:
    """Readable names of the length buckets, e.g. ``["<100", "100-199", ..., "500+"]``."""
    edges = _check_edges(edges)
    labels = []
    for low, high in zip(edges, list(edges[1:]) + [None], strict=True):
        if high is None:
            labels.append(f"{low}+")
        elif low == 0:
            labels.append(f"<{high}")
        else:
            labels.append(f"{low}-{high - 1}")
    return labels


def _check_edges(edges) -> tuple[int, ...]:
    edges = tuple(int(e) for e in edges)
    steps = np.diff(edges)
    if not edges or edges[0] != 0 or np.any(steps <= 0):
        raise ValueError(f"bucket edges must start at 0 and increase strictly, got {edges}")
    return edges


def bucket_of(lengths, edges=LENGTH_BUCKETS) -> np.ndarray:
    """Index of the length bucket of each length: ``(n,)`` ints in ``[0, len(edges))``.

    ``edges`` are the buckets' lower edges (see :func:`accuracy_by_length`). Raises
    ``ValueError`` for a negative length or edges that do not start at 0 and increase.
    """
    edges = _check_edges(edges)
    lengths = np.asarray(lengths).ravel()
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"lengths cannot be negative, got {lengths.min()}")
    return np.searchsorted(edges, lengths, side="right") - 1


def accuracy_by_length(y_true, y_prob, lengths, edges=LENGTH_BUCKETS) -> list[dict]:
    """Accuracy in each review-length bucket.

    ``edges`` are the buckets' lower edges; bucket i holds lengths in ``[edges[i],
    edges[i+1])`` and the last one everything from ``edges[-1]`` up. Returns one dict per
    bucket, JSON-ready: ``label``, ``low``, ``high`` (None for the last), ``count``,
    ``accuracy`` (None for an empty bucket) and ``stderr``, the binomial standard error
    sqrt(p(1-p)/n) of that accuracy.
    """
    edges = _check_edges(edges)
    y_true, y_prob = np.asarray(y_true).ravel(), np.asarray(y_prob).ravel()
    lengths = np.asarray(lengths).ravel()
    if not (y_true.shape == y_prob.shape == lengths.shape):
        raise ValueError(
            f"y_true, y_prob and lengths must have the same shape, got {y_true.shape}, "
            f"{y_prob.shape} and {lengths.shape}"
        )
    correct = (y_prob >= 0.5) == (y_true == 1)
    which = bucket_of(lengths, edges)
    buckets = []
    for index, label in enumerate(bucket_labels(edges)):
        inside = which == index
        count = int(inside.sum())
        acc = float(correct[inside].mean()) if count else None
        stderr = float(np.sqrt(acc * (1 - acc) / count)) if count else None
        high = edges[index + 1] if index + 1 < len(edges) else None
        buckets.append({"label": label, "low": edges[index], "high": high,
                        "count": count, "accuracy": acc, "stderr": stderr})
    return buckets
