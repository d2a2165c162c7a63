"""Multi-head attention: heads split and merged, equal to Keras' layer, masks, saving."""

import keras
import numpy as np
import pytest
from keras import ops

from attention_course.multi_head import MultiHeadAttention, merge_heads, split_heads

RNG = np.random.default_rng(3)
TOL = 1e-5


def test_split_and_merge_heads():
    x = RNG.normal(size=(2, 5, 12)).astype("float32")
    heads = ops.convert_to_numpy(split_heads(x, 3))
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):  # head h holds features 4h ... 4h + 3 of every position
        np.testing.assert_array_equal(heads[:, h], x[:, :, 4 * h:4 * h + 4])
    np.testing.assert_array_equal(ops.convert_to_numpy(merge_heads(heads)), x)
    # The plain reshape mixes positions into heads: not the same thing.
    assert not np.array_equal(heads, x.reshape(2, 3, 5, 4))
    with pytest.raises(ValueError, match="multiple of num_heads = 5"):
        split_heads(x, 5)
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        split_heads(x, 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., num_heads, T, d\)"):
        merge_heads(np.zeros((4, 3)))


def _pair(num_heads=3, key_dim=4, value_dim=None, output_shape=None, d=12):
    """A Keras layer and ours with the Keras weights copied in."""
    keras.utils.set_random_seed(0)
    theirs = keras.layers.MultiHeadAttention(num_heads, key_dim, value_dim=value_dim,
                                             output_shape=output_shape)
    ours = MultiHeadAttention(num_heads, key_dim, value_dim=value_dim,
                              output_shape=output_shape)
    x = np.zeros((1, 2, d), "float32")
    # Keras' fused path (no scores returned) fails on JAX when value_dim != key_dim.
    theirs(x, x, return_attention_scores=True)
    ours(x, x)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _numpy(t):
    return ops.convert_to_numpy(t)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padding", [False, True])
def test_equal_to_keras_multi_head_attention(causal, padding):
    theirs, ours = _pair()
    x = RNG.normal(size=(3, 7, 12)).astype("float32")
    kwargs = {"use_causal_mask": causal}
    if padding:
        mask = np.ones((3, 7), bool)
        mask[0, 4:] = False
        mask[2, 2:] = False
        kwargs["value_mask"] = mask
    expected = _numpy(theirs(x, x, **kwargs))
    got = _numpy(ours(x, x, **kwargs))
    np.testing.assert_allclose(got, expected, atol=TOL)


def test_equal_to_keras_with_weights_and_cross_attention():
    theirs, ours = _pair(num_heads=2, key_dim=5, value_dim=3, output_shape=6, d=12)
    query = RNG.normal(size=(2, 4, 12)).astype("float32")
    value = RNG.normal(size=(2, 9, 12)).astype("float32")
    key_padding = np.ones((2, 9), bool)
    key_padding[1, 5:] = False
    out_k, w_k = theirs(query, value, value_mask=key_padding, return_attention_scores=True)
    out_o, w_o = ours(query, value, value_mask=key_padding, return_attention_scores=True)
    assert tuple(out_o.shape) == (2, 4, 6) and tuple(w_o.shape) == (2, 2, 4, 9)
    np.testing.assert_allclose(_numpy(w_o), _numpy(w_k), atol=TOL)
    np.testing.assert_allclose(_numpy(out_o), _numpy(out_k), atol=TOL)
    # An explicit attention_mask (batch, T_q, T_k) too.
    explicit = RNG.random((2, 4, 9)) > 0.3
    explicit[..., 0] = True
    np.testing.assert_allclose(
        _numpy(ours(query, value, attention_mask=explicit)),
        _numpy(theirs(query, value, attention_mask=explicit, return_attention_scores=True)[0]),
        atol=TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_equal_to_keras_with_keras_masks_on_real_positions(causal):
    """Embedding(mask_zero=True) masks reach both layers; padded queries may differ."""
    keras.utils.set_random_seed(1)
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(30, 12, mask_zero=True)(ids)
    theirs, ours = _pair()
    model_k = keras.Model(ids, theirs(vectors, vectors, use_causal_mask=causal))
    model_o = keras.Model(ids, ours(vectors, vectors, use_causal_mask=causal))
    ours.set_weights(theirs.get_weights())
    batch = np.array([[3, 4, 5, 0, 0, 0], [7, 8, 9, 10, 11, 12]], "int32")
    real = batch != 0
    got, expected = _numpy(model_o(batch)), _numpy(model_k(batch))
    np.testing.assert_allclose(got[real], expected[real], atol=TOL)


def test_mask_passes_on_and_padding_changes_nothing():
    keras.utils.set_random_seed(2)
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(30, 8, mask_zero=True)(ids)
    attended = MultiHeadAttention(2, 4)(vectors, vectors)
    pooled = keras.layers.GlobalAveragePooling1D()(attended)  # mask-aware mean
    model = keras.Model(ids, pooled)
    short = np.array([[3, 4, 5]], "int32")
    padded = np.array([[3, 4, 5, 0, 0, 0, 0]], "int32")
    np.testing.assert_allclose(_numpy(model(padded)), _numpy(model(short)), atol=1e-6)


def test_permutation_equivariance():
    _, ours = _pair()
    x = RNG.normal(size=(1, 6, 12)).astype("float32")
    order = RNG.permutation(6)
    np.testing.assert_allclose(_numpy(ours(x[:, order], x[:, order])),
                               _numpy(ours(x, x))[:, order], atol=1e-5)


def test_saves_and_loads(tmp_path):
    inputs = keras.Input(shape=(None, 8))
    model = keras.Model(inputs, MultiHeadAttention(2, 3, name="mha")(inputs, inputs))
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    path = tmp_path / "mha.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), atol=1e-6)
    assert loaded.get_layer("mha").get_config()["key_dim"] == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="key_dim must be a positive integer"):
        MultiHeadAttention(2, 0)
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        MultiHeadAttention(2, 4)(np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32"))
    layer = MultiHeadAttention(2, 4)
    x = np.zeros((2, 3, 8), "float32")
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(batch, T_q, T_k\)"):
        layer(x, x, attention_mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="additive mask"):
        layer(x, x, value_mask=np.zeros((2, 3), "float32") - np.inf)
