"""Model builders, the training helpers, accuracy by length, and the results files."""

import json

import keras
import numpy as np
import pytest

from attention_course import models, results, training
from attention_course.config import PROFILES
from attention_course.data import ImdbSplits


@pytest.mark.parametrize("builder, layer", [(models.build_simple_rnn, "SimpleRNN"),
                                            (models.build_gru, "GRU"),
                                            (models.build_lstm, "LSTM")])
def test_builders_output_one_probability_per_review(builder, layer):
    model = builder(num_words=100, embedding_dim=8, units=6)
    ids = np.array([[1, 4, 7, 0, 0], [1, 9, 9, 9, 3]], dtype=np.int32)
    out = np.asarray(model.predict(ids, verbose=0))
    assert out.shape == (2, 1)
    assert np.all((out > 0) & (out < 1))
    recurrent = model.get_layer(models.RECURRENT_LAYER)
    assert type(recurrent).__name__ == layer
    assert recurrent.units == 6 and recurrent.recurrent_dropout == 0
    assert model.get_layer(models.EMBEDDING_LAYER).mask_zero
    assert model.optimizer is not None and model.loss == "binary_crossentropy"


def test_builder_ignores_padding_at_the_end():
    model = models.build_gru(num_words=30, embedding_dim=4, units=3)
    short = np.array([[1, 5, 6]], dtype=np.int32)
    padded = np.array([[1, 5, 6, 0, 0, 0]], dtype=np.int32)
    np.testing.assert_allclose(model.predict(short, verbose=0),
                               model.predict(padded, verbose=0), atol=1e-6)


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        models.build_recurrent_classifier("transformer")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        models.build_gru(units=0)


def test_accuracy_by_length_buckets_reviews_by_length():
    lengths = np.array([5, 99, 100, 150, 199, 200, 350, 499, 500, 2000])
    y_true = np.array([1, 0, 1, 1, 0, 0, 1, 1, 0, 1])
    y_prob = np.array([.9, .8, .7, .6, .1, .2, .3, .9, .1, .2])
    buckets = training.accuracy_by_length(y_true, y_prob, lengths, edges=(0, 100, 200, 300, 500))
    assert [b["label"] for b in buckets] == ["<100", "100-199", "200-299", "300-499", "500+"]
    assert [b["count"] for b in buckets] == [2, 3, 1, 2, 2]
    assert [b["accuracy"] for b in buckets] == [0.5, 1.0, 1.0, 0.5, 0.5]
    assert buckets[-1]["high"] is None and buckets[1]["low"] == 100
    assert buckets[0]["stderr"] == pytest.approx(np.sqrt(0.25 / 2))


def test_accuracy_by_length_empty_bucket_and_errors():
    buckets = training.accuracy_by_length([1], [0.7], [50], edges=(0, 100))
    assert buckets[1] == {"label": "100+", "low": 100, "high": None, "count": 0,
                          "accuracy": None, "stderr": None}
    with pytest.raises(ValueError, match="same shape"):
        training.accuracy_by_length([1, 0], [0.7], [50, 60])
    with pytest.raises(ValueError, match="start at 0"):
        training.accuracy_by_length([1], [0.7], [50], edges=(10, 100))
    with pytest.raises(ValueError, match="increase strictly"):
        training.accuracy_by_length([1], [0.7], [50], edges=(0, 100, 100))


def test_length_buckets_are_the_shared_edges():
    assert training.LENGTH_BUCKETS[0] == 0
    assert list(training.LENGTH_BUCKETS) == sorted(set(training.LENGTH_BUCKETS))


def test_accuracy_thresholds_probabilities():
    assert training.accuracy([1, 0, 1, 0], [0.5, 0.49, 0.2, 0.9]) == 0.5
    with pytest.raises(ValueError, match="same length"):
        training.accuracy([1, 0], [0.5])


def _tiny_splits():
    rng = np.random.default_rng(0)

    def ragged(n):
        out = np.empty(n, dtype=object)
        out[:] = [[1] + rng.integers(3, 40, size=rng.integers(2, 12)).tolist()
                  for _ in range(n)]
        return out

    return ImdbSplits(ragged(40), rng.integers(0, 2, 40), ragged(10), rng.integers(0, 2, 10),
                      ragged(10), rng.integers(0, 2, 10), num_words=40)


def test_fit_model_honours_profile_and_returns_history(capsys):
    profile = PROFILES["smoke"].with_(epochs=2, batch_size=16, maxlen=8)
    model = models.build_simple_rnn(num_words=40, embedding_dim=4, units=3)
    run = training.fit_model(model, _tiny_splits(), profile)
    assert run.epochs == 2 and run.batch_size == 16 and run.train_size == 40
    assert set(run.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(run.history["val_accuracy"]) == 2 and run.seconds > 0
    assert run.last("loss") == run.history["loss"][-1]
    assert "Epoch 2/2" in capsys.readouterr().out
    evaluation = training.evaluate(model, *_padded_test(), batch_size=8)
    assert evaluation.probabilities.shape == (10,) and 0 <= evaluation.accuracy <= 1


class _Scripted(keras.callbacks.Callback):
    """Logs a scripted ``val_scripted`` value each epoch and records the weights."""

    def __init__(self, values):
        super().__init__()
        self.values, self.weights = values, []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_scripted"] = self.values[epoch]
        self.weights.append([w.copy() for w in self.model.get_weights()])


def _same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_fit_model_restores_the_best_epoch_and_reports_it(capsys):
    profile = PROFILES["smoke"].with_(epochs=4, batch_size=16, maxlen=8)
    model = models.build_simple_rnn(num_words=40, embedding_dim=4, units=3)
    script = _Scripted([0.5, 0.9, 0.9, 0.7])  # best: epoch 2 (first of a tie)
    run = training.fit_model(model, _tiny_splits(), profile, callbacks=[script],
                             keep_best="val_scripted")
    assert run.best_epoch == run.kept_epoch == 2 and run.epochs_run == 4
    assert run.kept("val_scripted") == 0.9 and run.monitor == "val_scripted"
    assert _same_weights(model.get_weights(), script.weights[1])
    assert not _same_weights(model.get_weights(), script.weights[3])
    assert "kept epoch 2 of 4" in capsys.readouterr().out


def test_fit_model_stops_after_patience_and_can_keep_the_last_epoch():
    profile = PROFILES["smoke"].with_(epochs=5, batch_size=16, maxlen=8)
    model = models.build_simple_rnn(num_words=40, embedding_dim=4, units=3)
    script = _Scripted([0.9, 0.5, 0.4, 0.3, 0.2])
    run = training.fit_model(model, _tiny_splits(), profile, callbacks=[script],
                             keep_best="val_scripted", patience=2, verbose=0)
    assert run.epochs_run == 3 and run.best_epoch == 1
    assert _same_weights(model.get_weights(), script.weights[0])
    script = _Scripted([0.9, 0.5])
    last = training.fit_model(model, _tiny_splits(), profile.with_(epochs=2),
                              callbacks=[script], keep_best=None, verbose=0)
    assert last.best_epoch is None and last.kept_epoch == 2
    assert _same_weights(model.get_weights(), script.weights[1])
    with pytest.raises(ValueError, match="patience"):
        training.fit_model(model, _tiny_splits(), profile, patience=0)
    with (pytest.raises(ValueError, match="was not logged"),
          pytest.warns(UserWarning, match="not available")):
        training.fit_model(model, _tiny_splits(), profile.with_(epochs=1),
                           keep_best="val_nothing", verbose=0)


def _padded_test():
    splits = _tiny_splits()
    return splits.padded(8)[2], splits.y_test


def test_fit_model_rejects_ragged_reviews():
    splits = _tiny_splits()
    model = models.build_simple_rnn(num_words=40, embedding_dim=4, units=3)
    with pytest.raises(ValueError, match="padded int matrix"):
        training.fit_model(model, ((splits.x_train, splits.y_train),
                                   (splits.x_val, splits.y_val)), PROFILES["smoke"])


def test_results_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV_VAR, str(tmp_path))
    assert results.results_dir() == tmp_path
    assert results.load_results("nothing_here") is None
    profile = PROFILES["smoke"]
    meta = results.run_metadata(profile, _tiny_splits())
    assert meta["bucket_edges"] == list(training.LENGTH_BUCKETS)
    payload = {**meta, "accuracy": np.float32(0.75), "counts": np.array([1, 2])}
    path = results.save_results("ch99_test", payload)
    assert path == tmp_path / "ch99_test.json"
    loaded = results.load_results("ch99_test")
    assert loaded["accuracy"] == 0.75 and loaded["counts"] == [1, 2]
    assert loaded["sizes"] == {"train": 40, "validation": 10, "test": 10}
    assert results.mismatches(loaded, meta) == []
    assert results.mismatches(loaded, {**meta, "maxlen": 400}) == ["maxlen: saved 100, now 400"]
    json.loads(path.read_text())  # plain JSON


def test_results_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match="missing: sizes, maxlen, bucket_edges"):
        results.save_results("x", {"profile": "cpu"})
    with pytest.raises(ValueError, match="plain file stem"):
        results.load_results("../escape")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load_results("broken")


def test_ch02_checks_accept_the_reference_and_reject_mistakes():
    from attention_course import rnn
    from attention_course.data import pad_reviews
    from attention_course.grading.core import run_checks

    def right(x, w, u, b):
        return rnn.simple_rnn_forward(x, w, u, b, return_sequences=True)

    def no_bias(x, w, u, b):
        return rnn.simple_rnn_forward(x, w, u, None, return_sequences=True)

    assert run_checks("ch02.rnn_forward", right).status == "passed"
    wrong = run_checks("ch02.rnn_forward", no_bias)
    assert wrong.status == "failed" and "step t=0" in wrong.outcomes[0].message

    def no_clipping(reviews, labels, maxlen, num_words):
        return pad_reviews(reviews, maxlen), np.asarray(labels, dtype=np.float32)

    result = run_checks("ch02.prepare_reviews", no_clipping)
    assert result.status == "failed" and "OOV id 2" in result.outcomes[0].message


def test_training_curves_mark_the_kept_epoch():
    import matplotlib.pyplot as plt

    from attention_course import plots

    history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.6, 0.5, 0.55],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.6, 0.75, 0.7]}
    run = training.TrainingRun(history, 1.0, 3, 16, 40, best_epoch=2, monitor="val_accuracy")
    fig = plots.plot_training_curves(run)
    marks = [line for ax in fig.axes for line in ax.get_lines()
             if line.get_linestyle() == ":"]
    assert len(marks) == 2 and all(line.get_xdata()[0] == 2 for line in marks)
    plt.close(fig)
    fig = plots.plot_training_curves(history)  # a plain dict: no kept epoch to mark
    assert not [line for ax in fig.axes for line in ax.get_lines()
                if line.get_linestyle() == ":"]
    plt.close(fig)


def test_simple_rnn_starts_with_an_orthogonal_recurrent_matrix():
    """Chapter 2 explains the mild fading at initialisation by U^T U = I (Keras' default)."""
    model = models.build_simple_rnn(num_words=40, embedding_dim=4, units=6)
    recurrent = model.get_layer(models.RECURRENT_LAYER).get_weights()[1]
    np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(6), atol=1e-5)
