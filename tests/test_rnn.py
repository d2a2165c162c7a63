"""The NumPy SimpleRNN equals keras.layers.SimpleRNN with the same weights; bad shapes fail."""

import keras
import numpy as np
import pytest

from attention_course import models, rnn


def _keras_rnn(units, features, return_sequences, seed=0):
    layer = keras.layers.SimpleRNN(units, return_sequences=return_sequences, seed=seed)
    layer.build((None, None, features))
    rng = np.random.default_rng(seed)
    # Non-zero bias, so a forgotten bias term would show.
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32")
               for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, weights


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("shape", [(3, 7, 4, 5), (1, 1, 2, 3), (5, 20, 8, 16)])
def test_numpy_forward_equals_keras(shape, return_sequences):
    batch, steps, features, units = shape
    layer, (kernel, recurrent, bias) = _keras_rnn(units, features, return_sequences)
    x = np.random.default_rng(1).normal(size=(batch, steps, features)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    ours = rnn.simple_rnn_forward(x, kernel, recurrent, bias,
                                  return_sequences=return_sequences)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_numpy_forward_equals_keras_with_mask(return_sequences):
    layer, (kernel, recurrent, bias) = _keras_rnn(4, 3, return_sequences, seed=2)
    x = np.random.default_rng(3).normal(size=(3, 6, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], bool)
    expected = keras.ops.convert_to_numpy(layer(x, mask=mask))
    ours = rnn.simple_rnn_forward(x, kernel, recurrent, bias,
                                  return_sequences=return_sequences, mask=mask)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_masked_last_state_is_state_after_last_real_step():
    rng = np.random.default_rng(4)
    kernel, recurrent, bias = rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    x = rng.normal(size=(1, 5, 2))
    masked = rnn.simple_rnn_forward(x, kernel, recurrent, bias, mask=[[1, 1, 0, 0, 0]])
    short = rnn.simple_rnn_forward(x[:, :2], kernel, recurrent, bias)
    np.testing.assert_allclose(masked, short)


def test_step_is_the_recurrence():
    rng = np.random.default_rng(5)
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    w, u, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 4)), rng.normal(size=4)
    np.testing.assert_allclose(rnn.simple_rnn_step(x, h, w, u, b), np.tanh(x @ w + h @ u + b))


def test_initial_state_is_used():
    rng = np.random.default_rng(6)
    w, u = rng.normal(size=(2, 3)), rng.normal(size=(3, 3))
    x, h0 = rng.normal(size=(2, 1, 2)), rng.normal(size=(2, 3))
    out = rnn.simple_rnn_forward(x, w, u, initial_state=h0)
    np.testing.assert_allclose(out, np.tanh(x[:, 0] @ w + h0 @ u))


@pytest.mark.parametrize(
    "inputs, kernel, recurrent, bias, kwargs, words",
    [
        ((2, 5), (5, 3), (3, 3), (3,), {}, ["(batch, time, features)", "(2, 5)"]),
        ((2, 4, 5), (4, 3), (3, 3), (3,), {}, ["kernel must have shape (features=5", "(4, 3)"]),
        ((2, 4, 5), (5, 3), (3, 4), (3,), {}, ["recurrent_kernel", "(3, 3)", "(3, 4)"]),
        ((2, 4, 5), (5, 3), (3, 3), (4,), {}, ["bias must have shape", "(3,)", "(4,)"]),
        ((2, 4, 5), (5, 3), (3, 3), (3,), {"mask": np.ones((2, 5))},
         ["mask must have shape", "(2, 4)", "(2, 5)"]),
        ((2, 4, 5), (5, 3), (3, 3), (3,), {"initial_state": np.zeros((3, 3))},
         ["initial_state must have shape", "(2, 3)", "(3, 3)"]),
    ],
)
def test_bad_shapes_raise_value_error_naming_shapes(inputs, kernel, recurrent, bias, kwargs,
                                                    words):
    with pytest.raises(ValueError) as err:
        rnn.simple_rnn_forward(np.zeros(inputs), np.zeros(kernel), np.zeros(recurrent),
                               np.zeros(bias), **kwargs)
    for word in words:
        assert word in str(err.value)


def test_gradient_norms_through_time_shape_and_padding():
    keras.utils.set_random_seed(0)
    model = models.build_simple_rnn(num_words=50, embedding_dim=4, units=5)
    ids = np.array([[1, 5, 9, 7, 0, 0], [1, 3, 4, 5, 6, 8]], dtype=np.int32)
    norms = rnn.gradient_norms_through_time(model, ids, np.array([0, 1]))
    assert norms.shape == (2, 6)
    assert np.all(norms[0, 4:] == 0), "padded steps must get no gradient"
    assert np.all(norms[:, :4] > 0)
    with pytest.raises(ValueError, match="labels"):
        rnn.gradient_norms_through_time(model, ids, np.array([0, 1, 1]))
