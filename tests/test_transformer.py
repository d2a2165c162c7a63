"""The Transformer encoder block and the transformer review classifier."""

import keras
import numpy as np
import pytest
from keras import ops

from attention_course import models
from attention_course.transformer import TransformerEncoderBlock

RNG = np.random.default_rng(11)
BATCH = np.array([[1, 5, 6, 0, 0, 0], [1, 2, 3, 4, 7, 9]], dtype="int32")


def _numpy(t):
    return ops.convert_to_numpy(t)


def _layer_norm(x, norm):
    gamma, beta = (_numpy(w) for w in norm.weights)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + norm.epsilon) * gamma + beta


def _feed_forward(x, block):
    w1, b1 = (_numpy(w) for w in block.hidden.weights)
    w2, b2 = (_numpy(w) for w in block.output_layer.weights)
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_computes_post_or_pre_norm(norm_first):
    keras.utils.set_random_seed(0)
    block = TransformerEncoderBlock(2, ff_dim=16, dropout=0.3, norm_first=norm_first)
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    got = _numpy(block(x, training=False))
    attention = block.attention

    def attend(y):
        return _numpy(attention(y, y))

    if norm_first:
        h = x + attend(_layer_norm(x, block.attention_norm))
        expected = h + _feed_forward(_layer_norm(h, block.feed_forward_norm), block)
    else:
        h = _layer_norm(x + attend(x), block.attention_norm)
        expected = _layer_norm(h + _feed_forward(h, block), block.feed_forward_norm)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert block.attention.key_dim == 4  # d / num_heads by default


def _encoder_model(norm_first=False):
    keras.utils.set_random_seed(1)
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(20, 8, mask_zero=True)(ids)
    block = TransformerEncoderBlock(2, ff_dim=16, norm_first=norm_first, name="block")
    states, weights = block(vectors, return_attention_scores=True)
    pooled = keras.layers.GlobalAveragePooling1D()(states)  # mask-aware
    return keras.Model(ids, [pooled, weights])


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_ignores_padding_and_passes_the_mask(norm_first):
    model = _encoder_model(norm_first)
    pooled, weights = (_numpy(t) for t in model(BATCH))
    assert weights.shape == (2, 2, 6, 6)
    real = BATCH != 0
    # Padded positions are never keys, and padded queries attend to nothing.
    assert np.all(weights[0][:, :, ~real[0]] == 0)
    assert np.all(weights[0][:, ~real[0], :] == 0)
    np.testing.assert_allclose(weights[1].sum(-1), 1.0, rtol=1e-6)
    # More padding changes nothing for the real tokens.
    wider = np.pad(BATCH, ((0, 0), (0, 4)))
    np.testing.assert_allclose(_numpy(model(wider)[0]), pooled, atol=1e-5)


def test_block_saves_and_loads(tmp_path):
    model = _encoder_model(norm_first=True)
    model.save(tmp_path / "block.keras")
    loaded = keras.models.load_model(tmp_path / "block.keras")
    for a, b in zip(loaded(BATCH), model(BATCH), strict=True):
        np.testing.assert_allclose(_numpy(a), _numpy(b), atol=1e-6)
    config = loaded.get_layer("block").get_config()
    assert config["norm_first"] is True and config["ff_dim"] == 16


def test_block_errors():
    with pytest.raises(ValueError, match="ff_dim must be a positive integer"):
        TransformerEncoderBlock(2, ff_dim=0)
    with pytest.raises(ValueError, match="dropout must lie in"):
        TransformerEncoderBlock(2, ff_dim=4, dropout=1.0)
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        TransformerEncoderBlock(2, ff_dim=4)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="more than the 2 features"):
        TransformerEncoderBlock(4, ff_dim=4)(np.zeros((1, 3, 2), "float32"))


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_review_classifier(positions, tmp_path):
    keras.utils.set_random_seed(0)
    model = models.build_review_classifier("transformer", num_words=20, embedding_dim=8,
                                           maxlen=6, dropout=0.2, positions=positions)
    assert tuple(model(BATCH).shape) == (2, 1)
    maps = models.self_attention_maps(model, BATCH)
    assert maps.shape == (2, 2, 6, 6)
    assert np.all(maps[0][:, :, 3:] == 0)
    np.testing.assert_allclose(maps[1].sum(-1), 1.0, rtol=1e-6)
    pooling = models.attention_weights(model, BATCH)
    np.testing.assert_allclose(pooling.sum(axis=1), 1.0, rtol=1e-6)
    model.save(tmp_path / "classifier.keras")
    loaded = keras.models.load_model(tmp_path / "classifier.keras", compile=False)
    np.testing.assert_allclose(_numpy(loaded(BATCH)), _numpy(model(BATCH)), atol=1e-6)


def test_transformer_classifier_errors():
    with pytest.raises(ValueError, match="multiple of num_heads = 3"):
        models.build_review_classifier("transformer", num_words=20, embedding_dim=8,
                                       num_heads=3)
    with pytest.raises(ValueError, match="not a transformer review classifier"):
        models.self_attention_maps(models.build_review_classifier("gru", num_words=20), BATCH)
