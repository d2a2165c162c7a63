"""Length-bucketed batches, and fit_model training on them."""

import numpy as np
import pytest

from attention_course import backend, batching, models, training
from attention_course.config import PROFILES
from attention_course.data import pad_reviews

RNG = np.random.default_rng(0)
REVIEWS = [list(RNG.integers(3, 50, size=n)) for n in RNG.integers(1, 40, size=97)]
X = pad_reviews(REVIEWS, maxlen=30)
Y = RNG.integers(0, 2, size=len(REVIEWS))


def test_row_widths_end_at_the_last_real_id():
    x = np.array([[1, 4, 0, 0], [1, 0, 5, 0], [0, 0, 0, 0], [1, 2, 3, 4]])
    np.testing.assert_array_equal(batching.row_widths(x), [2, 3, 1, 4])
    with pytest.raises(ValueError, match=r"padded int matrix \(n, maxlen\), got shape \(4,\)"):
        batching.row_widths(np.array([1, 2, 3, 4]))


@pytest.mark.parametrize("shuffled", [False, True])
def test_batches_cover_every_review_once_and_group_similar_lengths(shuffled):
    lengths = batching.row_widths(X)
    rng = np.random.default_rng(1) if shuffled else None
    batches = batching.bucket_batches(lengths, 8, rng)
    everything = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(everything, np.arange(len(X)))
    assert all(len(b) <= 8 for b in batches)
    # Length spread inside a batch is far below the spread of a random batch.
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.5 * np.ptp(lengths), spread
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        batching.bucket_batches(lengths, 0)


def test_batches_are_cut_to_their_longest_review_and_keep_labels():
    buckets = batching.LengthBuckets(X, Y, batch_size=16, shuffle=True, seed=3)
    multiple = backend.width_multiple()
    seen = {}
    for i in range(len(buckets)):
        x_batch, y_batch = buckets[i]
        assert x_batch.dtype == np.int32 and y_batch.dtype == np.float32
        longest = batching.row_widths(x_batch).max()
        assert x_batch.shape[1] == batching.bucket_width([longest], multiple, X.shape[1])
        for row, label in zip(x_batch, y_batch, strict=True):
            seen[tuple(row[row != 0])] = label
    expected = {tuple(r[r != 0]): float(label) for r, label in zip(X, Y, strict=True)}
    assert seen == expected
    first = [buckets[i][0].shape for i in range(len(buckets))]
    buckets.on_epoch_end()
    second = [buckets[i][0].shape for i in range(len(buckets))]
    assert first != second, "each epoch should draw new batches"
    with pytest.raises(ValueError, match=r"y must have shape \(97,\)"):
        batching.length_bucketed(X, Y[:5], batch_size=16)


def test_bucket_width_rounds_up_and_caps():
    assert batching.bucket_width([3, 7, 5]) == 7
    assert batching.bucket_width([3, 7, 5], multiple=32) == 32
    assert batching.bucket_width([33], multiple=32, limit=40) == 40
    assert batching.bucket_width([64], multiple=32, limit=100) == 64


@pytest.mark.parametrize("encoder", models.ENCODERS)
def test_fit_model_trains_every_encoder_on_length_buckets(encoder):
    # Every arm a profile may train (full's BiGRU too), on the active Keras backend.
    # Whole batches only (96 and 16 rows of 16): each batch shape is one more trace (TF) or
    # compilation (JAX) per encoder, and a ragged last batch is a Keras path that the
    # chapters' real data takes anyway.
    model = models.build_review_classifier(encoder, num_words=50, embedding_dim=4,
                                           units=3, dropout=0.5)
    profile = PROFILES["smoke"].with_(epochs=2, batch_size=16, maxlen=30)
    run = training.fit_model(model, ((X[:96], Y[:96]), (X[:16], Y[:16])), profile,
                             bucket_by_length=True, verbose=0)
    assert len(run.history["loss"]) == 2
    assert np.all(np.isfinite(run.history["val_loss"]))


def test_predict_by_length_matches_predicting_the_padded_matrix():
    import keras

    keras.utils.set_random_seed(0)
    model = models.build_review_classifier("gru_attention", num_words=50,
                                           embedding_dim=4, units=3)
    expected = model.predict(X, verbose=0)[:, 0]
    got = batching.predict_by_length(model, X, batch_size=16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    weights = models.attention_weights(model, X, batch_size=16)
    assert weights.shape == X.shape
    assert np.all(weights[X == 0] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    reader = keras.Model(model.inputs, model.get_layer("attention").output[1])
    np.testing.assert_allclose(weights, reader.predict(X, verbose=0), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"should output shape \(16, 1\)"):
        batching.predict_by_length(reader, X, batch_size=16)
