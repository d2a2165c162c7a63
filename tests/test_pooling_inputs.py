"""What a Keras user passes to AttentionPooling and models.attention_weights (issue 14)."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from attention_course import backend, models
from attention_course.layers import AttentionPooling

STATES = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
KEEP = np.array([[True, True, False, False], [True, True, True, True]])


def _pool(states, mask):
    keras.utils.set_random_seed(0)
    _, weights = AttentionPooling(return_weights=True)(states, mask=mask)
    return keras.ops.convert_to_numpy(weights)


@pytest.mark.parametrize("mask", [
    KEEP.astype(int).tolist(), KEEP.astype("float32"), tf.constant(KEEP.astype("int32")),
    keras.Variable(KEEP.astype("float32")),
], ids=["list", "float32", "tf.constant", "keras.Variable"])
def test_a_0_1_mask_of_any_type_equals_the_boolean_mask(mask):
    np.testing.assert_array_equal(_pool(STATES, mask), _pool(STATES, KEEP))


@pytest.mark.parametrize("mask", [np.where(KEEP, 0.0, -np.inf), np.where(KEEP, 0.0, -1e9)])
def test_an_additive_mask_is_refused_naming_the_convention(mask):
    with pytest.raises(ValueError, match=r"True/1 = attend.*additive_mask == 0"):
        _pool(STATES, mask.astype("float32"))


def test_a_numeric_mask_in_a_functional_model_must_be_boolean():
    states, mask = keras.Input((4, 3)), keras.Input((4,))
    with pytest.raises(ValueError, match="traced function.*boolean"):
        AttentionPooling()(states, mask=mask)
    context = AttentionPooling()(states, mask=keras.ops.equal(mask, 1))
    assert tuple(context.shape) == (None, 3)


def test_repeated_attention_weights_calls_trace_once_and_warn_nothing(caplog):
    """Issue 14: each call built and traced a new model; after 5 TensorFlow warned."""
    model = models.build_review_classifier("gru_attention", num_words=30, embedding_dim=4,
                                           units=3, maxlen=12)
    rng = np.random.default_rng(0)
    with caplog.at_level(logging.WARNING):
        for width in range(2, 10):
            x = rng.integers(1, 30, size=(width % 3 + 1, 12))
            x[:, width:] = 0
            weights = models.attention_weights(model, x)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    assert "retracing" not in caplog.text
    if backend.name() == "tensorflow":
        forward = backend.compiled_forward(models._WEIGHT_READERS[model])
        assert forward.experimental_get_tracing_count() == 1


def test_attention_weights_of_many_models_warn_nothing(caplog):
    """Chapters read the weights of several models: TensorFlow counted traces per code object,
    so the fifth model's first trace warned about retracing."""
    rng = np.random.default_rng(1)
    with caplog.at_level(logging.WARNING):
        for _ in range(7):
            model = models.build_review_classifier("gru_attention", num_words=30,
                                                   embedding_dim=4, units=3, maxlen=12)
            models.attention_weights(model, rng.integers(1, 30, size=(2, 12)))
    assert "retracing" not in caplog.text
