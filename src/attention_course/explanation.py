"""Reading attention weights: the most-attended words, where the weight falls, and a test.

Do attention weights explain a prediction? Jain & Wallace (2019) and Wiegreffe & Pinter
(2019) argue both ways. The functions here support one simple check: delete the k words a
model attends to most and see how much its prediction moves, compared with deleting k words
at random. A word is deleted by replacing its id with the padding id 0: the Keras mask then
hides it from the embedding average, the recurrent layer (which carries its state over the
gap) and the attention pooling.

Shapes: ``weights`` (n, time) as :func:`attention_course.models.attention_weights` returns
them; ``mask`` (n, time) boolean, True on real words (``data.padding_mask(x)``); ``x`` the
padded ids (n, time); ``positions`` (n, k) int column indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attention_course.data import PAD


def _check_weights_and_mask(weights, mask) -> tuple[np.ndarray, np.ndarray]:
    weights, mask = np.asarray(weights, dtype=float), np.asarray(mask, dtype=bool)
    if weights.ndim != 2 or weights.shape != mask.shape:
        raise ValueError(
            f"weights and mask must both have shape (n, time), got {weights.shape} and "
            f"{mask.shape}"
        )
    return weights, mask


def _check_k(mask: np.ndarray, k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    shortest = int(mask.sum(axis=1).min()) if len(mask) else 0
    if k > shortest:
        raise ValueError(f"k={k} exceeds the number of real words in the shortest review "
                         f"({shortest}); keep reviews with at least k words")


def top_k_positions(weights, mask, k: int) -> np.ndarray:
    """The k positions with the largest weights in each row, largest first: shape (n, k).

    Only real words (``mask`` True) are candidates; ties go to the earlier position.
    """
    weights, mask = _check_weights_and_mask(weights, mask)
    _check_k(mask, k)
    candidates = np.where(mask, weights, -np.inf)
    order = np.argsort(-candidates, axis=1, kind="stable")
    return order[:, :k]


def random_positions(mask, k: int, seed: int = 0) -> np.ndarray:
    """k distinct real-word positions per row, drawn uniformly: shape (n, k)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape (n, time), got {mask.shape}")
    _check_k(mask, k)
    noise = np.random.default_rng(seed).random(mask.shape)
    return np.argsort(np.where(mask, -noise, np.inf), axis=1, kind="stable")[:, :k]


def delete_positions(x, positions) -> np.ndarray:
    """A copy of the padded ids ``x`` (n, time) with ``positions`` (n, k) set to padding (0)."""
    x, positions = np.array(x), np.asarray(positions)
    if x.ndim != 2 or positions.ndim != 2 or len(positions) != len(x):
        raise ValueError(f"x must be (n, time) and positions (n, k) with the same n, got "
                         f"{x.shape} and {positions.shape}")
    np.put_along_axis(x, positions, PAD, axis=1)
    return x


def weight_mass_by_position(weights, mask, bins: int = 10) -> np.ndarray:
    """Average share of a review's attention in each of ``bins`` equal parts of its length.

    The word at position t of a review of n words falls in part ⌊bins · t / n⌋ (0 = the
    first tenth of the review for ``bins=10``). Returns shape (bins,), summing to 1 when every
    row's weights sum to 1; a uniform weighting would give 1/bins everywhere.
    """
    weights, mask = _check_weights_and_mask(weights, mask)
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    lengths = mask.sum(axis=1, keepdims=True)
    if np.any(lengths == 0):
        raise ValueError("every review needs at least one real word")
    rank = np.cumsum(mask, axis=1) - 1  # 0-based index among the review's real words
    part = np.minimum(bins * rank // lengths, bins - 1)
    mass = np.zeros((len(weights), bins))
    rows = np.broadcast_to(np.arange(len(weights))[:, None], weights.shape)
    np.add.at(mass, (rows[mask], part[mask]), weights[mask])
    return mass.mean(axis=0)


def peak_over_uniform(weights, mask) -> np.ndarray:
    """Each review's largest weight as a multiple of the uniform weight 1/n: shape (n_reviews,).

    ``n`` is the review's number of real words. 1 means the weights are exactly uniform (the
    pooling is a plain mean); n means one word takes all the weight. Raises ``ValueError`` for
    mismatched shapes or a review without real words.
    """
    weights, mask = _check_weights_and_mask(weights, mask)
    counts = mask.sum(axis=1)
    if np.any(counts == 0):
        raise ValueError("every review needs at least one real word")
    return np.where(mask, weights, -np.inf).max(axis=1) * counts


@dataclass(frozen=True)
class DeletionEffect:
    """What deleting words did to a model's predictions on n reviews.

    ``mean_change`` is the mean of |P(positive) after − before|, ``stderr`` its standard
    error over the reviews, ``flipped`` the share of reviews whose decision (P ≥ 0.5) changed.
    """

    mean_change: float
    stderr: float
    flipped: float

    def clearly_above(self, other: DeletionEffect, standard_errors: float = 3.0) -> bool:
        """True when this mean change exceeds ``other``'s by more than ``standard_errors``
        combined standard errors (the two are treated as independent)."""
        return (self.mean_change - other.mean_change
                > standard_errors * np.hypot(self.stderr, other.stderr))


def deletion_effect(model, x, positions, before=None, batch_size: int = 256) -> DeletionEffect:
    """Delete ``positions`` (n, k) from the padded reviews ``x`` (n, time) and measure the change.

    ``before`` (n,) are the model's probabilities on ``x`` (computed when not given). The
    model runs in length buckets (:func:`attention_course.batching.predict_by_length`).
    """
    from attention_course.batching import predict_by_length

    x = np.asarray(x)
    if before is None:
        before = predict_by_length(model, x, batch_size)
    before = np.asarray(before, dtype=float)
    if before.shape != (len(x),):
        raise ValueError(f"before must have shape ({len(x)},), got {before.shape}")
    after = predict_by_length(model, delete_positions(x, positions), batch_size)
    change = np.abs(after - before)
    return DeletionEffect(float(change.mean()), float(change.std() / np.sqrt(len(change))),
                          float(np.mean((after >= 0.5) != (before >= 0.5))))


def top_k_words(weights, ids, k: int, vocabulary: dict[int, str]) -> list[str]:
    """The k words of one review with the largest weights, largest first.

    ``weights`` and ``ids`` have shape (time,); padding (id 0) is never chosen.
    """
    weights, ids = np.asarray(weights), np.asarray(ids)
    if weights.ndim != 1 or weights.shape != ids.shape:
        raise ValueError(f"weights and ids must both have shape (time,), got "
                         f"{weights.shape} and {ids.shape}")
    positions = top_k_positions(weights[None], ids[None] != PAD, k)[0]
    return [vocabulary.get(int(ids[p]), f"[?{ids[p]}]") for p in positions]
