"""Top-k positions, random positions, deleting words, weight mass by position, and the HTML."""

import numpy as np
import pytest

from attention_course import explanation, plots

WEIGHTS = np.array([[0.1, 0.5, 0.2, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25, 0.0]])
MASK = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 0]], dtype=bool)


def test_top_k_positions_largest_first_ties_to_the_earlier_position():
    np.testing.assert_array_equal(explanation.top_k_positions(WEIGHTS, MASK, 3),
                                  [[1, 2, 3], [0, 1, 2]])
    # Padding is never a candidate, even with a large weight.
    leaky = np.array([[0.1, 0.2, 0.9]])
    np.testing.assert_array_equal(
        explanation.top_k_positions(leaky, np.array([[1, 1, 0]], bool), 2), [[1, 0]])


def test_k_must_fit_the_shortest_review():
    with pytest.raises(ValueError, match="k=5 exceeds the number of real words"):
        explanation.top_k_positions(WEIGHTS, MASK, 5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        explanation.random_positions(MASK, 0)
    with pytest.raises(ValueError, match=r"shape \(n, time\), got \(2, 5\) and \(2, 4\)"):
        explanation.top_k_positions(WEIGHTS, MASK[:, :4], 1)


def test_random_positions_are_distinct_real_words_and_reproducible():
    mask = np.ones((200, 8), dtype=bool)
    mask[:, 6:] = False
    drawn = explanation.random_positions(mask, 3, seed=1)
    assert drawn.shape == (200, 3)
    assert np.all(drawn < 6)
    assert all(len(set(row)) == 3 for row in drawn)
    np.testing.assert_array_equal(drawn, explanation.random_positions(mask, 3, seed=1))
    # Every real position gets drawn sometimes.
    assert set(drawn.ravel()) == set(range(6))


def test_delete_positions_sets_padding_and_copies():
    x = np.array([[1, 5, 6, 7], [1, 8, 9, 0]])
    out = explanation.delete_positions(x, np.array([[1, 3], [0, 2]]))
    np.testing.assert_array_equal(out, [[1, 0, 6, 0], [0, 8, 0, 0]])
    assert x[0, 1] == 5, "the input must not change"


def test_weight_mass_by_position():
    # Review 0 has 4 words: with 2 bins, words 0-1 fall in the first half.
    mass = explanation.weight_mass_by_position(WEIGHTS, MASK, bins=2)
    np.testing.assert_allclose(mass, [(0.6 + 0.5) / 2, (0.4 + 0.5) / 2])
    uniform = np.where(MASK, 1 / MASK.sum(1, keepdims=True), 0)
    np.testing.assert_allclose(explanation.weight_mass_by_position(uniform, MASK, 4), 0.25)
    with pytest.raises(ValueError, match="at least one real word"):
        explanation.weight_mass_by_position(np.zeros((1, 3)), np.zeros((1, 3), bool))


def test_top_k_words():
    vocabulary = {1: "[START]", 7: "great", 8: "film"}
    assert explanation.top_k_words([0.2, 0.5, 0.3, 0.0], [1, 7, 8, 0], 2, vocabulary) == [
        "great", "film"]


def test_highlight_html_escapes_and_shades_by_relative_weight():
    html = plots.highlight_words_html(["<b>", "good"], [0.2, 0.8], title="a & b")
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert "a &amp; b" in html
    assert ",1.000)" in html and ",0.000)" in html  # min-max shading
    with pytest.raises(ValueError, match="one weight per word: 2 words"):
        plots.highlight_words_html(["a", "b"], [1.0])


def test_peak_over_uniform_is_one_for_uniform_weights():
    peaks = explanation.peak_over_uniform(WEIGHTS, MASK)
    np.testing.assert_allclose(peaks, [0.5 * 4, 1.0])
    with pytest.raises(ValueError, match="at least one real word"):
        explanation.peak_over_uniform(WEIGHTS, np.zeros_like(MASK))


def test_deletion_effect_measures_change_and_flips():
    import keras

    from attention_course import models

    keras.utils.set_random_seed(0)
    model = models.build_review_classifier("bag_of_embeddings", num_words=20,
                                           embedding_dim=4)
    # Make word 7 decide the prediction: a large positive embedding weight pattern.
    table = np.zeros((20, 4), "float32")
    table[7] = 10.0
    model.get_layer(models.EMBEDDING_LAYER).set_weights([table])
    model.get_layer(models.OUTPUT_LAYER).set_weights(
        [np.ones((4, 1), "float32"), np.array([-1.0], "float32")])
    x = np.array([[1, 7, 3, 4, 0], [1, 3, 7, 4, 5]], dtype="int32")
    effect = explanation.deletion_effect(model, x, np.array([[1], [2]]))
    assert effect.flipped == 1.0 and effect.mean_change > 0.5
    nothing = explanation.deletion_effect(model, x, np.array([[3], [3]]))
    assert nothing.flipped == 0.0 and nothing.mean_change < effect.mean_change
    assert effect.clearly_above(nothing, standard_errors=1.0)
    assert not nothing.clearly_above(effect)
    with pytest.raises(ValueError, match=r"before must have shape \(2,\)"):
        explanation.deletion_effect(model, x, np.array([[1], [2]]), before=np.zeros(3))
