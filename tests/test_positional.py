"""Positional encodings: the sinusoidal formula, its two layouts, the layer, saving."""

import keras
import numpy as np
import pytest
from keras import ops

from attention_course.positional import (
    PositionalEncoding,
    layout_permutation,
    sinusoidal_encoding,
)


def numpy_interleaved(length, depth, base=10_000.0):
    """Vaswani et al. (2017), section 3.5, written out element by element."""
    table = np.zeros((length, depth))
    for pos in range(length):
        for i in range(depth // 2):
            table[pos, 2 * i] = np.sin(pos / base ** (2 * i / depth))
            table[pos, 2 * i + 1] = np.cos(pos / base ** (2 * i / depth))
    return table


@pytest.mark.parametrize("depth", [2, 8, 16])
def test_sinusoidal_matches_the_paper(depth):
    got = ops.convert_to_numpy(sinusoidal_encoding(50, depth))
    assert got.shape == (50, depth) and got.dtype == np.float32
    np.testing.assert_allclose(got, numpy_interleaved(50, depth), atol=2e-5)
    np.testing.assert_array_equal(got[0, 0::2], 0.0)  # sin(0)
    np.testing.assert_array_equal(got[0, 1::2], 1.0)  # cos(0)


def test_layouts_differ_by_a_fixed_permutation():
    interleaved = ops.convert_to_numpy(sinusoidal_encoding(30, 8))
    concatenated = ops.convert_to_numpy(sinusoidal_encoding(30, 8, "concatenated"))
    assert not np.allclose(interleaved, concatenated)
    p = layout_permutation(8)
    np.testing.assert_array_equal(p, [0, 4, 1, 5, 2, 6, 3, 7])
    np.testing.assert_array_equal(interleaved, concatenated[:, p])
    np.testing.assert_array_equal(concatenated, interleaved[:, np.argsort(p)])


def test_sinusoidal_errors():
    with pytest.raises(ValueError, match="positive even integer"):
        sinusoidal_encoding(5, 7)
    with pytest.raises(ValueError, match="layout must be one of"):
        sinusoidal_encoding(5, 8, layout="sin-first")
    with pytest.raises(ValueError, match="length must be a non-negative integer"):
        sinusoidal_encoding(-1, 8)
    with pytest.raises(ValueError, match="base must exceed 1"):
        sinusoidal_encoding(5, 8, base=1.0)


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_layer_adds_positions_and_keeps_the_mask(kind):
    keras.utils.set_random_seed(0)
    layer = PositionalEncoding(kind, max_length=10)
    x = np.zeros((2, 6, 8), "float32")
    added = ops.convert_to_numpy(layer(x))
    table = (ops.convert_to_numpy(sinusoidal_encoding(6, 8)) if kind == "sinusoidal"
             else ops.convert_to_numpy(layer.table)[:6])
    np.testing.assert_allclose(added, np.broadcast_to(table, (2, 6, 8)), atol=1e-6)
    # The embedding's mask reaches the next layer.
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = PositionalEncoding(kind, max_length=10)(
        keras.layers.Embedding(20, 8, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.GlobalAveragePooling1D()(vectors))
    short, padded = np.array([[3, 4]], "int32"), np.array([[3, 4, 0, 0, 0]], "int32")
    np.testing.assert_allclose(ops.convert_to_numpy(model(padded)),
                               ops.convert_to_numpy(model(short)), atol=1e-6)


def test_layer_saves_and_loads(tmp_path):
    inputs = keras.Input(shape=(None, 4))
    outputs = PositionalEncoding("learned", max_length=7, name="pos")(
        PositionalEncoding(layout="concatenated")(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(2, 7, 4)).astype("float32")
    model.save(tmp_path / "pos.keras")
    loaded = keras.models.load_model(tmp_path / "pos.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)),
                               ops.convert_to_numpy(model(x)), atol=1e-6)
    assert loaded.get_layer("pos").get_config()["max_length"] == 7


def test_layer_errors():
    with pytest.raises(ValueError, match="needs max_length"):
        PositionalEncoding("learned")
    with pytest.raises(ValueError, match="kind must be one of"):
        PositionalEncoding("rotary")
    with pytest.raises(ValueError, match="positive even integer"):
        PositionalEncoding()(np.zeros((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match="longer than this learned encoding's max_length = 4"):
        PositionalEncoding("learned", max_length=4)(np.zeros((1, 6, 2), "float32"))
    with pytest.raises(ValueError, match=r"PositionalEncoding expects inputs of shape \(batch, "
                       r"time, features\) with known features, got shape \(2, 3\)"):
        PositionalEncoding().build((2, 3))
