"""AttentionPooling: masks, weights, the pooled vector, serialisation and bad input."""

import keras
import numpy as np
import pytest

from attention_course.layers import AttentionPooling

# Three reviews padded at the end with 0; the last one is all padding.
BATCH = np.array([[1, 5, 6, 0, 0, 0], [1, 2, 3, 4, 7, 9], [0, 0, 0, 0, 0, 0]], dtype="int32")
MASK = BATCH != 0


def _model(score="additive", bidirectional=False, seed=0):
    """ids -> Embedding(mask_zero) -> (Bi)GRU(return_sequences) -> pooling; outputs all parts."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(20, 6, mask_zero=True)(ids)
    gru = keras.layers.GRU(5, return_sequences=True)
    if bidirectional:
        gru = keras.layers.Bidirectional(gru)
    states = gru(vectors)
    context, weights = AttentionPooling(score, return_weights=True, name="pool")(states)
    probability = keras.layers.Dense(1, activation="sigmoid")(context)
    return keras.Model(ids, [probability, context, weights, states])


def _run(model, batch):
    return [keras.ops.convert_to_numpy(t) for t in model(batch)]


@pytest.mark.parametrize("score", ["additive", "scaled_dot"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weights_are_zero_on_padding_and_sum_to_one(score, bidirectional):
    _, _, weights, _ = _run(_model(score, bidirectional), BATCH)
    assert weights.shape == BATCH.shape
    assert np.all(weights[~MASK] == 0.0), f"padding got weight: {weights[~MASK]}"
    assert np.all(weights[MASK] > 0)
    np.testing.assert_allclose(weights[:2].sum(axis=1), 1.0, rtol=1e-6)
    # A review with no real token attends to nothing: zero weights, not NaN or uniform.
    assert np.all(weights[2] == 0.0)


@pytest.mark.parametrize("score", ["additive", "scaled_dot"])
def test_context_is_the_weighted_sum_of_the_states(score):
    _, context, weights, states = _run(_model(score, bidirectional=True), BATCH)
    expected = np.einsum("bt,btd->bd", weights, states)
    np.testing.assert_allclose(context, expected, rtol=1e-5, atol=1e-6)
    assert np.all(context[2] == 0.0)


def test_padding_length_does_not_change_the_output():
    model = _model("additive", bidirectional=True)
    short = np.array([[1, 5, 6, 7]], dtype="int32")
    long = np.pad(short, ((0, 0), (0, 9)))
    p_short, c_short, w_short, _ = _run(model, short)
    p_long, c_long, w_long, _ = _run(model, long)
    np.testing.assert_allclose(c_short, c_long, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p_short, p_long, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_long[:, :4], w_short, rtol=1e-5, atol=1e-7)
    assert np.all(w_long[:, 4:] == 0.0)


def test_scaled_dot_scores_match_numpy():
    layer = AttentionPooling("scaled_dot", return_weights=True)
    rng = np.random.default_rng(0)
    states = rng.normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    context, weights = (keras.ops.convert_to_numpy(t) for t in layer(states, mask=mask))
    query = keras.ops.convert_to_numpy(layer.query)[0]
    scores = states @ query / np.sqrt(3)
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(context, np.einsum("bt,btd->bd", expected, states), rtol=1e-5)


def test_without_return_weights_the_layer_returns_only_the_context():
    states = np.ones((2, 3, 4), dtype="float32")
    context = AttentionPooling("scaled_dot")(states)
    assert tuple(context.shape) == (2, 4)
    # Equal states: every weighting gives the same average.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(context), 1.0, rtol=1e-6)


@pytest.mark.parametrize("score", ["additive", "scaled_dot"])
def test_saved_and_reloaded_model_predicts_the_same(tmp_path, score):
    model = _model(score, bidirectional=True)
    path = tmp_path / "pooling.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    for before, after in zip(_run(model, BATCH), _run(reloaded, BATCH), strict=True):
        np.testing.assert_array_equal(before, after)
    pool = reloaded.get_layer("pool")
    assert isinstance(pool, AttentionPooling)
    assert (pool.score, pool.return_weights) == (score, True)


def test_config_round_trip():
    layer = AttentionPooling("additive", units=7, return_weights=True, name="p")
    clone = AttentionPooling.from_config(layer.get_config())
    got = (clone.score, clone.units, clone.return_weights, clone.name)
    assert got == ("additive", 7, True, "p")
    clone.build((None, 5, 3))
    assert tuple(clone.w_k.shape) == (3, 7)


def test_bad_arguments_and_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="score must be one of"):
        AttentionPooling("cosine")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        AttentionPooling(units=0)
    with pytest.raises(ValueError, match=r"\(batch, time, features\).*\(2, 3\)"):
        AttentionPooling()(np.zeros((2, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(2, 3\)"):
        AttentionPooling()(np.zeros((2, 3, 4), dtype="float32"), mask=np.ones((2, 4), bool))


@pytest.mark.parametrize("encoder", ["gru_attention", "bigru_attention"])
def test_attention_weights_of_a_review_classifier(encoder):
    from attention_course import models

    model = models.build_review_classifier(encoder, num_words=20, embedding_dim=4, units=3)
    weights = models.attention_weights(model, BATCH)
    assert weights.shape == BATCH.shape
    assert np.all(weights[~MASK] == 0.0)
    np.testing.assert_allclose(weights[:2].sum(axis=1), 1.0, rtol=1e-6)


def test_review_classifier_encoders_and_errors():
    from attention_course import models

    for encoder in models.ENCODERS:
        model = models.build_review_classifier(encoder, num_words=20, embedding_dim=4,
                                               units=3, dropout=0.5)
        assert tuple(model(BATCH).shape) == (3, 1)
    with pytest.raises(ValueError, match="encoder must be one of"):
        models.build_review_classifier("lstm_attention")
    with pytest.raises(ValueError, match="dropout must lie in"):
        models.build_review_classifier("gru", dropout=1.0)
    with pytest.raises(ValueError, match="has no layer named 'attention'"):
        models.attention_weights(models.build_review_classifier("gru", num_words=20), BATCH)
