"""Chapter 5's controlled comparison: settings per profile, one arm's training, the payload."""

import json

import numpy as np
import pytest

from attention_course import comparison, models, results, stats
from attention_course.config import PROFILES
from attention_course.data import ImdbSplits


def test_settings_exist_for_every_profile_and_keep_the_budget_rules():
    for name, profile in PROFILES.items():
        settings = comparison.settings_for(profile)
        assert settings.profile.name == name
        assert set(settings.encoders) <= set(models.ENCODERS)
        # the arms that isolate attention: last state, mean, attention
        assert {"gru", "gru_mean", "gru_attention"} <= set(settings.encoders)
        assert len(settings.seeds) >= {"full": 5, "cpu": 3}.get(name, 2)
        assert set(settings.model_kwargs()) == {"num_words", "embedding_dim", "units",
                                                "learning_rate", "dropout"}
        assert json.dumps(settings.as_dict())
    with pytest.raises(ValueError, match="no comparison settings"):
        comparison.settings_for(PROFILES["smoke"].with_(name="laptop"))


def test_a_dry_run_keeps_every_arm_and_two_seeds():
    full = comparison.settings_for(PROFILES["full"])
    dry = comparison.settings_for(PROFILES["full"].with_(dry_run=True))
    assert dry.encoders == full.encoders and dry.profile.dry_run
    assert dry.seeds == full.seeds[:2] and len(full.seeds) > 2
    assert (dry.profile.train_size, dry.profile.epochs) == (512, 1)


def _tiny():
    rng = np.random.default_rng(0)

    def ragged(n):
        out = np.empty(n, dtype=object)
        out[:] = [[1, *rng.integers(3, 30, size=rng.integers(2, 12)).tolist()]
                  for _ in range(n)]
        return out

    splits = ImdbSplits(ragged(48), rng.integers(0, 2, 48), ragged(16), rng.integers(0, 2, 16),
                        ragged(20), rng.integers(0, 2, 20), num_words=30)
    profile = PROFILES["smoke"].with_(num_words=30, maxlen=8, epochs=2, batch_size=16)
    settings = comparison.ComparisonSettings(
        profile=profile, seeds=(0, 1), encoders=("gru_mean", "gru_attention"),
        embedding_dim=4, units=3, dropout=0.0, learning_rate=1e-2, patience=None)
    x_train, x_val, x_test = splits.padded(8, truncating="pre")
    lengths = np.array([len(r) for r in splits.x_test])
    return settings, comparison.ComparisonData(splits, x_train, x_val, x_test, lengths)


def test_train_arm_payload_table_and_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV_VAR, str(tmp_path))
    settings, data = _tiny()
    runs = {(e, s): comparison.train_arm(e, s, settings, data, verbose=0)
            for e in settings.encoders for s in settings.seeds}
    arm = runs["gru_attention", 0]
    assert arm.probabilities.shape == arm.correct.shape == (20,)
    assert 1 <= arm.kept_epoch <= arm.epochs_run == 2 and arm.params > 0
    assert 0 <= arm.val_accuracy <= 1 and arm.test_accuracy == arm.correct.mean()
    scores = comparison.correctness(runs, "gru_attention", settings.seeds)
    assert scores.shape == (2, 20) and set(np.unique(scores)) <= {0.0, 1.0}
    with pytest.raises(KeyError, match="no run of 'gru'"):
        comparison.correctness(runs, "gru", settings.seeds)

    rows = comparison.summary_rows(runs, settings)
    assert [r["name"] for r in rows] == ["GRU + mean pooling", "GRU + attention"]
    table = stats.markdown_table(rows, comparison.TABLE_COLUMNS)
    assert table.count("\n") == 3 and "GRU + attention" in table

    gap = comparison.validation_gap(runs, settings)
    assert gap["arms"] == 2 and 0 <= gap["higher"] <= 2

    record = comparison.payload(settings, data, runs)
    path = comparison.save(record)
    loaded = comparison.load()
    assert path.parent == tmp_path and loaded["seeds"] == [0, 1]
    assert results.mismatches(loaded, results.run_metadata(settings.profile, data.splits)) == []
    saved = loaded["arms"]["gru_attention"]
    assert saved["name"] == "GRU + attention" and len(saved["correct"]) == 2
    np.testing.assert_array_equal(saved["correct"][1], runs["gru_attention", 1].correct)
    assert len(loaded["test_lengths"]) == len(loaded["test_labels"]) == 20
    for key in ("val_accuracy", "kept_epoch", "epochs_run", "val_history", "seconds"):
        assert len(saved[key]) == 2
    assert len(arm.val_history) == arm.epochs_run == 2
    assert arm.val_accuracy == max(arm.val_history) == arm.val_history[arm.kept_epoch - 1]
    assert saved["val_history"][0] == list(runs["gru_attention", 0].val_history)
    moved = comparison.last_epoch_changes(runs, settings)
    assert moved["runs"] == moved["total"] == 4
    assert loaded["settings"]["truncating"] == "pre"


def test_train_arm_accepts_another_builder():
    settings, data = _tiny()
    seen = {}

    def build(**kwargs):
        seen.update(kwargs)
        return models.build_review_classifier("bag_of_embeddings", **kwargs)

    arm = comparison.train_arm("mine", 0, settings, data, build=build, verbose=0)
    assert seen == settings.model_kwargs() and arm.encoder == "mine"


def test_train_seeds_restarts_one_model_and_gives_the_runs_of_new_models():
    import dataclasses

    # The Transformer arm: dropout layers at the top level and inside the block, whose
    # random streams must restart with the weights.
    encoder = "transformer"
    settings, data = _tiny()
    settings = dataclasses.replace(settings, dropout=0.5,
                                   profile=settings.profile.with_(epochs=1))
    shared = comparison.train_seeds(encoder, settings, data, verbose=0)
    assert list(shared) == [(encoder, 0), (encoder, 1)]
    assert shared[encoder, 0].shared_model is shared[encoder, 1].shared_model
    fresh = comparison.train_arm(encoder, 1, settings, data, verbose=0)  # built anew
    np.testing.assert_allclose(shared[encoder, 1].probabilities, fresh.probabilities,
                               atol=1e-6)
    # each run's .model holds that seed's trained weights, whichever was read last
    first = shared[encoder, 0]
    for seed in (1, 0):
        model = shared[encoder, seed].model
        for a, b in zip(model.get_weights(), shared[encoder, seed].trained_weights,
                        strict=True):
            np.testing.assert_array_equal(a, b)
    p = models.attention_weights(first.model, data.x_test)
    assert p.shape[0] == len(data.x_test)


def test_reset_model_refuses_a_model_that_does_not_rebuild_alike():
    import keras

    model = models.build_review_classifier("bag_of_embeddings", num_words=30, embedding_dim=4)

    class Odd(keras.Model):  # a subclassed model: no functional configuration to rebuild
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    odd = Odd()
    odd(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="does not rebuild from its configuration"):
        models.reset_model(odd, 0)
    assert models.reset_model(model, 0) is model


def _run(encoder, seed, history, kept=None):
    history = tuple(history)
    kept = kept or int(np.argmax(history)) + 1
    return comparison.ArmRun(encoder, seed, None, np.ones(3, bool), max(history), kept,
                             len(history), 1.0, 10, val_history=history)


def test_last_epoch_changes_reads_how_far_the_last_epoch_moved_each_run():
    settings, _ = _tiny()
    runs = {("gru_mean", 0): _run("gru_mean", 0, [0.70, 0.80]),
            ("gru_mean", 1): _run("gru_mean", 1, [0.80, 0.78]),
            ("gru_attention", 0): _run("gru_attention", 0, [0.60, 0.75, 0.76]),
            ("gru_attention", 1): _run("gru_attention", 1, [0.81, 0.81])}
    moved = comparison.last_epoch_changes(runs, settings)
    assert moved["changes"]["gru_mean"] == pytest.approx([0.10, -0.02])
    assert moved["changes"]["gru_attention"] == pytest.approx([0.01, 0.0])
    assert (moved["runs"], moved["rising"], moved["total"]) == (4, 2, 4)
    assert moved["largest"] == pytest.approx(0.10)
    assert moved["mean"] == pytest.approx((0.10 - 0.02 + 0.01) / 4)
    assert moved["kept_earlier"] == 2  # seed 1 of each arm kept epoch 1 of 2
    assert (moved["levelled"], moved["moving"]) == ([], ["gru_mean", "gru_attention"])
    loose = comparison.last_epoch_changes(runs, settings, level=0.02)
    assert (loose["levelled"], loose["moving"]) == (["gru_attention"], ["gru_mean"])

    one_epoch = {key: _run(*key, [0.7]) for key in runs}
    moved = comparison.last_epoch_changes(one_epoch, settings)
    assert (moved["runs"], moved["largest"], moved["mean"]) == (0, None, None)
    assert moved["levelled"] == moved["moving"] == []

    without = dict(runs)
    without["gru_mean", 1] = comparison.ArmRun("gru_mean", 1, None, np.ones(3, bool), 0.8, 2,
                                               2, 1.0, 10)
    with pytest.raises(ValueError, match="no val_history"):
        comparison.last_epoch_changes(without, settings)
    del without["gru_mean", 1]
    with pytest.raises(KeyError, match="no run of 'gru_mean' for seed 1"):
        comparison.last_epoch_changes(without, settings)
