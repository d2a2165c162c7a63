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
