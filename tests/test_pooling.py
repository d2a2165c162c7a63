"""Masked mean and max pooling: the controls for attention pooling in chapter 5."""

import keras
import numpy as np
import pytest

from attention_course import backend, models
from attention_course.pooling import MaskedMaxPooling, MaskedMeanPooling

RNG = np.random.default_rng(0)
STATES = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[True, True, False, False, False],
                 [True, True, True, True, True],
                 [False, False, False, False, False]])
# Padding holds huge values: a pooling that let them in would show it.
STATES[~MASK] = 1e6


def _numpy(layer, states=STATES, mask=MASK):
    return keras.ops.convert_to_numpy(layer(states, mask=mask))


def test_masked_max_takes_the_max_over_real_positions_only():
    out = _numpy(MaskedMaxPooling())
    assert out.shape == (3, 4)
    for row in range(2):
        np.testing.assert_array_equal(out[row], STATES[row][MASK[row]].max(axis=0))
    np.testing.assert_array_equal(out[2], np.zeros(4))  # nothing real: zeros, not -inf


def test_masked_mean_averages_real_positions_like_keras():
    out = _numpy(MaskedMeanPooling())
    keras_mean = keras.ops.convert_to_numpy(
        keras.layers.GlobalAveragePooling1D()(STATES[:2], mask=MASK[:2]))
    np.testing.assert_allclose(out[:2], keras_mean, rtol=1e-6)
    np.testing.assert_allclose(out[0], STATES[0, :2].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(out[2], np.zeros(4))  # nothing real: zeros, not NaN


@pytest.mark.parametrize("layer", [MaskedMaxPooling, MaskedMeanPooling])
def test_without_a_mask_every_position_counts_and_gradients_stay_finite(layer):
    reduce = np.max if layer is MaskedMaxPooling else np.mean
    np.testing.assert_allclose(_numpy(layer(), mask=None), reduce(STATES, axis=1), rtol=1e-6)
    pool = layer()
    (gradient,) = backend.gradients(
        lambda states: keras.ops.sum(pool(states, mask=MASK)), [STATES])
    assert np.all(np.isfinite(gradient)) and np.all(gradient[~MASK] == 0)


@pytest.mark.parametrize("layer", [MaskedMaxPooling, MaskedMeanPooling])
def test_bad_shapes_raise_value_errors(layer):
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        layer()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(3, 5\)"):
        layer()(STATES, mask=MASK[:, :4])


BATCH = np.array([[1, 5, 6, 0, 0, 0], [1, 2, 3, 4, 7, 9]], dtype="int32")


@pytest.mark.parametrize("encoder", ["gru_mean", "gru_max"])
def test_pooled_classifiers_ignore_padding_and_reload(encoder, tmp_path):
    model = models.build_review_classifier(encoder, num_words=20, embedding_dim=4, units=3)
    padded = np.pad(BATCH, ((0, 0), (0, 7)))
    np.testing.assert_allclose(model.predict(BATCH, verbose=0),
                               model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6)
    path = tmp_path / f"{encoder}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(model.predict(BATCH, verbose=0),
                               reloaded.predict(BATCH, verbose=0), rtol=1e-6)


def test_gru_poolings_start_from_the_same_embedding_and_gru():
    """For one seed the pooling arms differ only in the pooling (and the output layer)."""
    weights = {}
    for encoder in ("gru", "gru_mean", "gru_max", "gru_attention"):
        keras.utils.set_random_seed(7)
        model = models.build_review_classifier(encoder, num_words=20, embedding_dim=4,
                                               units=3)
        weights[encoder] = [model.get_layer(name).get_weights()
                            for name in (models.EMBEDDING_LAYER, models.RECURRENT_LAYER)]
    reference = weights.pop("gru")
    for encoder, found in weights.items():
        for ours, theirs in zip(found, reference, strict=True):
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=encoder)
    assert set(models.ENCODER_NAMES) == set(models.ENCODERS)
