"""Chapter 6's encoder–decoder: attention equals Keras', the decoder, the builder, decoding."""

import keras
import numpy as np
import pytest

from attention_course import batching, dates, decoding, models, rnn
from attention_course.layers import CrossAttention

RNG = np.random.default_rng(6)
QUERY = RNG.normal(size=(2, 3, 4)).astype("float32")  # (batch, T_q, d)
KEYS = RNG.normal(size=(2, 5, 4)).astype("float32")  # (batch, T_k, d)
KEY_MASK = np.array([[True] * 5, [True, True, True, False, False]])


def _numpy(tensors):
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def test_dot_score_equals_keras_attention():
    ours = CrossAttention("dot")
    context, weights = _numpy(ours(QUERY, KEYS, key_mask=KEY_MASK))
    keras_layer = keras.layers.Attention(use_scale=False)
    expected, expected_weights = _numpy(keras_layer(
        [QUERY, KEYS, KEYS], mask=[None, KEY_MASK], return_attention_scores=True))
    np.testing.assert_allclose(context, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)
    assert np.all(weights[1, :, 3:] == 0)


def test_additive_score_equals_keras_additive_attention_fed_projections():
    ours = CrossAttention("additive", units=6)
    context, weights = _numpy(ours(QUERY, KEYS, key_mask=KEY_MASK))
    w_q, w_k, v = (keras.ops.convert_to_numpy(t) for t in (ours.w_q, ours.w_k, ours.v))
    keras_layer = keras.layers.AdditiveAttention(use_scale=True)
    keras_layer.build([(2, 3, 6), (2, 5, 4), (2, 5, 6)])
    keras_layer.scale.assign(v)  # Keras' scale is our v; its inputs are q W_q and k W_k
    expected, expected_weights = _numpy(keras_layer(
        [QUERY @ w_q, KEYS, KEYS @ w_k], mask=[None, KEY_MASK],
        return_attention_scores=True))
    np.testing.assert_allclose(context, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)


def test_general_score_equals_keras_attention_fed_q_w():
    ours = CrossAttention("general")
    context, weights = _numpy(ours(QUERY, KEYS, key_mask=KEY_MASK))
    w = keras.ops.convert_to_numpy(ours.w)
    expected, expected_weights = _numpy(keras.layers.Attention(use_scale=False)(
        [QUERY @ w, KEYS, KEYS], mask=[None, KEY_MASK], return_attention_scores=True))
    np.testing.assert_allclose(context, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)


def test_cross_attention_values_and_fully_masked_rows():
    values = RNG.normal(size=(2, 5, 7)).astype("float32")
    mask = KEY_MASK.copy()
    mask[1] = False
    context, weights = _numpy(CrossAttention("general")(QUERY, KEYS, values, key_mask=mask))
    assert context.shape == (2, 3, 7) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(weights[0].sum(-1), 1, rtol=1e-6)
    assert np.all(weights[1] == 0) and np.all(context[1] == 0)


@pytest.mark.parametrize("make, message", [
    (lambda: CrossAttention("cosine"), "score must be one of"),
    (lambda: CrossAttention("dot", units=3), "only applies to the additive"),
    (lambda: CrossAttention("additive", units=0), "positive integer"),
    (lambda: models.build_seq2seq(30, 10, attention="dot", attention_units=4),
     "only applies to the additive"),
    (lambda: models.build_seq2seq(30, 10, units=0), "units"),
])
def test_bad_configurations_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="dot score needs queries and keys of one size"):
        CrossAttention("dot")(QUERY, RNG.normal(size=(2, 5, 3)).astype("float32"))
    with pytest.raises(ValueError, match="key_mask must have shape"):
        CrossAttention("dot")(QUERY, KEYS, key_mask=KEY_MASK[:, :4])
    with pytest.raises(ValueError, match="batch, time, features"):
        CrossAttention("general")(QUERY[0], KEYS)


SV, TV = dates.SOURCE_VOCABULARY, dates.TARGET_VOCABULARY


@pytest.fixture(scope="module")
def data():
    examples = dates.make_examples(24, max_dates=2, seed=9)
    return (examples, SV.encode(examples.sources), TV.encode(examples.targets, start=True),
            TV.encode(examples.targets, end=True))


def _small(attention):
    keras.utils.set_random_seed(0)
    return models.build_seq2seq(SV.size, TV.size, embedding_dim=8, units=6,
                                attention=attention)


@pytest.fixture(scope="module", params=[None, "additive", "dot", "general"])
def model(request):
    """Every arm: for the checks that each score must pass."""
    return _small(request.param)


@pytest.fixture(scope="module", params=[None, "additive"])
def arm(request):
    """Without attention and with the most involved score: for the slower checks."""
    return _small(request.param)


def test_builder_outputs_logits_and_arms_differ_only_in_attention(model, data):
    _, source, target_in, _ = data
    logits = keras.ops.convert_to_numpy(model([source[:3], target_in[:3]]))
    assert logits.shape == (3, target_in.shape[1], TV.size)
    plain = models.build_seq2seq(SV.size, TV.size, embedding_dim=8, units=6)
    ours = {layer.name for layer in model.layers}
    theirs = {layer.name for layer in plain.layers}
    attention = models.seq2seq_attention(model)
    assert models.seq2seq_attention(plain) is None
    if attention is None:
        assert ours == theirs
    else:
        assert ours - theirs == {models.CROSS_ATTENTION} and theirs <= ours
    if attention is None or attention.score == "dot":  # the dot score has no weights
        assert model.count_params() == plain.count_params()
    else:
        assert model.count_params() > plain.count_params()


def test_decoder_steps_one_at_a_time_equal_teacher_forcing(model, data):
    _, source, target_in, _ = data
    source, target_in = source[:3], target_in[:3]
    mask = source != 0
    vectors = model.get_layer(models.SOURCE_EMBEDDING)(source)
    states, summary = models.seq2seq_encode(model, vectors, mask)
    logits, decoder_states, weights = models.seq2seq_decode(model, states, mask, target_in,
                                                            summary)
    state = summary
    for t in range(target_in.shape[1]):
        step_logits, step_states, step_weights = models.seq2seq_decode(
            model, states, mask, target_in[:, t:t + 1], state, summary)
        state = step_states[:, -1]
        np.testing.assert_allclose(keras.ops.convert_to_numpy(step_logits)[:, 0],
                                   keras.ops.convert_to_numpy(logits)[:, t], atol=1e-5)
        if weights is not None:
            np.testing.assert_allclose(keras.ops.convert_to_numpy(step_weights)[:, 0],
                                       keras.ops.convert_to_numpy(weights)[:, t], atol=1e-5)
    if weights is None:
        return
    # The query of step i is the decoder state s_i: attend(s_i, encoder states).
    expected, _ = models.seq2seq_attention(model)(decoder_states, states, key_mask=mask)
    context = keras.ops.convert_to_numpy(expected)
    w = keras.ops.convert_to_numpy(weights)
    np.testing.assert_allclose(np.einsum("bij,bjd->bid", w,
                                         keras.ops.convert_to_numpy(states)),
                               context, atol=1e-5)
    assert np.all(w[~np.broadcast_to(mask[:, None, :], w.shape)] == 0)


def test_model_without_attention_reads_the_summary_at_every_step(data):
    _, source, target_in, _ = data
    plain = _small(None)
    mask = source[:2] != 0
    vectors = plain.get_layer(models.SOURCE_EMBEDDING)(source[:2])
    states, summary = models.seq2seq_encode(plain, vectors, mask)
    other = keras.ops.convert_to_numpy(summary)[::-1].copy()  # another input's summary
    a = keras.ops.convert_to_numpy(models.seq2seq_decode(plain, states, mask, target_in[:2],
                                                         summary)[0])
    b = keras.ops.convert_to_numpy(models.seq2seq_decode(plain, states * 0, mask,
                                                         target_in[:2], summary)[0])
    c = keras.ops.convert_to_numpy(models.seq2seq_decode(plain, states, mask, target_in[:2],
                                                         summary, other)[0])
    np.testing.assert_allclose(a, b, atol=1e-6)  # the states do not matter, only c
    assert np.abs(a - c).max() > 1e-4


def test_reset_gives_the_weights_of_a_seed_and_forgets_the_optimizer(data):
    _, source, target_in, target_out = data
    model = _small("general")
    model.train_on_batch([source, target_in], target_out)
    models.reset_model(model, seed=4)
    first = [w.copy() for w in model.get_weights()]
    optimizer = model.optimizer
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0
    assert all(not np.any(keras.ops.convert_to_numpy(v)) for v in optimizer.variables
               if v.name != "learning_rate")
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) > 0
    before = model.train_function
    model.train_on_batch([source, target_in], target_out)
    assert model.train_function is before  # the traced step is kept
    models.reset_model(model, seed=4)
    for a, b in zip(first, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    models.reset_model(model, seed=5)
    assert any(not np.array_equal(a, b)
               for a, b in zip(first, model.get_weights(), strict=True))


def test_padding_does_not_change_the_logits(arm, data):
    _, source, target_in, _ = data
    wide = np.pad(source[:2], ((0, 0), (0, 7)))
    a = keras.ops.convert_to_numpy(arm([source[:2], target_in[:2]]))
    b = keras.ops.convert_to_numpy(arm([wide, target_in[:2]]))
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_model_saves_and_loads(arm, data, tmp_path):
    _, source, target_in, _ = data
    path = tmp_path / "seq2seq.keras"
    arm.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(arm([source, target_in])),
                               keras.ops.convert_to_numpy(loaded([source, target_in])),
                               atol=1e-5)


def test_greedy_decoding_is_teacher_forcing_on_its_own_outputs(model, data):
    _, source, target_in, _ = data
    decoded = decoding.greedy_decode(model, source, max_length=12, batch_size=7)
    assert decoded.ids.shape == (len(source), 12)
    # Feed the loop's own tokens back as if they were the truth: every step agrees.
    own = np.concatenate([np.full((len(source), 1), TV.id("<start>")), decoded.ids[:, :-1]],
                         axis=1)
    again = decoding.teacher_forced_ids(model, source, own, batch_size=5)
    produced = np.cumsum(decoded.ids == TV.id("<end>"), axis=1) - (
        decoded.ids == TV.id("<end>")) == 0  # steps up to and including <end>
    assert np.all((again == decoded.ids)[produced])
    assert np.all(decoded.ids[~produced] == 0)
    if models.seq2seq_attention(model) is None:
        assert decoded.weights is None
    else:
        w = decoded.weights
        assert w.shape == (len(source), 12, source.shape[1])
        np.testing.assert_allclose(w.sum(-1)[produced], 1, rtol=1e-5)
        assert np.all(w[:, :, :][np.broadcast_to((source == 0)[:, None, :], w.shape)] == 0)


def test_decoding_errors():
    plain = models.build_seq2seq(SV.size, TV.size, embedding_dim=4, units=2)
    with pytest.raises(ValueError, match="int matrix"):
        decoding.greedy_decode(plain, np.zeros((3,), dtype=int), max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        decoding.greedy_decode(plain, np.ones((2, 3), dtype=int), max_length=0)
    with pytest.raises(ValueError, match="same shape"):
        decoding.token_accuracy(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="all padding"):
        decoding.token_accuracy(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        decoding.exact_match(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="attention must be one of"):
        models.build_seq2seq(SV.size, TV.size, attention="scaled_dot")


def test_token_accuracy_and_exact_match():
    target = np.array([[4, 5, 2, 0], [6, 2, 0, 0]])
    predicted = np.array([[4, 7, 2, 9], [6, 2, 3, 3]])
    assert decoding.token_accuracy(predicted, target) == pytest.approx(4 / 5)
    assert decoding.exact_match(["1998-03-03", "x"], ["1998-03-03", "y"]).tolist() == [True,
                                                                                       False]


def test_alignment_of_cuts_the_matrix_to_real_tokens(data):
    examples, source, _, _ = data
    keras.utils.set_random_seed(2)
    model = models.build_seq2seq(SV.size, TV.size, embedding_dim=8, units=6,
                                 attention="dot")
    decoded = decoding.greedy_decode(model, source[:3], max_length=9)
    record = decoding.alignment_of(decoded, 1, examples.sources[1], TV)
    weights = np.array(record["weights"])
    assert weights.shape == (len(record["output_tokens"]), len(examples.sources[1]))
    assert record["input_tokens"] == [c if c != " " else "␣" for c in examples.sources[1]]
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="no attention weights"):
        decoding.alignment_of(decoding.Decoded(decoded.ids, None), 0, "x", TV)


def test_gradient_norms_reach_every_real_position_and_not_padding(arm, data):
    _, source, target_in, target_out = data
    norms = rnn.seq2seq_gradient_norms(arm, source[:4], target_in[:4], target_out[:4])
    assert norms.shape == (4, source.shape[1])
    real = source[:4] != 0
    assert np.all(norms[~real] == 0)
    assert np.all(norms[real] > 0)
    with pytest.raises(ValueError, match="same batch"):
        rnn.seq2seq_gradient_norms(arm, source[:4], target_in[:3], target_out[:4])


def test_pair_buckets_cut_each_matrix_and_cover_every_example(data):
    _, source, target_in, target_out = data
    buckets = batching.PairBuckets((source, target_in), target_out, batch_size=5, seed=1)
    seen = []
    for i in range(len(buckets)):
        (x, t_in), t_out = buckets[i]
        rows = buckets.batches[i]
        seen.extend(rows)
        assert x.dtype == np.int32 and x.shape[1] == batching.row_widths(source[rows]).max()
        assert t_in.shape == t_out.shape[:1] + (t_in.shape[1],)
        np.testing.assert_array_equal(x, source[rows, :x.shape[1]])
    assert sorted(seen) == list(range(len(source)))
    first = [b.copy() for b in buckets.batches]
    buckets.on_epoch_end()
    assert any(not np.array_equal(a, b) for a, b in zip(first, buckets.batches, strict=True))
    with pytest.raises(ValueError, match="rows"):
        batching.PairBuckets((source[:3], target_in), target_out, batch_size=2)


def test_fit_on_pair_buckets_lowers_the_loss(data):
    _, source, target_in, target_out = data
    keras.utils.set_random_seed(1)
    model = models.build_seq2seq(SV.size, TV.size, embedding_dim=8, units=8,
                                 attention="dot", learning_rate=1e-2)
    history = model.fit(batching.pair_bucketed((source, target_in), target_out, 8),
                        epochs=3, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]


def test_chapter_settings_exist_for_every_profile():
    from attention_course.config import PROFILES, encoder_decoder_settings

    for name, profile in PROFILES.items():
        settings = encoder_decoder_settings(profile)
        assert settings == encoder_decoder_settings(name)
        assert settings.score in models.SEQ2SEQ_ATTENTION
        assert set(settings.other_scores) <= set(models.SEQ2SEQ_ATTENTION)
        assert len(settings.seeds) >= 2 and settings.bucket_edges[0] == 0
    assert len(encoder_decoder_settings("cpu").seeds) >= 3
    with pytest.raises(ValueError, match="unknown profile"):
        encoder_decoder_settings("tpu")


def test_dry_run_keeps_the_models_and_caps_the_data(monkeypatch):
    from attention_course.config import (
        DRY_RUN_CAPS,
        DRY_RUN_SEEDS,
        ENCODER_DECODER,
        encoder_decoder_settings,
        get_profile,
    )

    monkeypatch.setenv("ATTENTION_DRY_RUN", "1")
    settings = encoder_decoder_settings(get_profile("full"))
    full = ENCODER_DECODER["full"]
    assert settings.epochs == 1
    assert settings.train_size <= DRY_RUN_CAPS["train_size"]
    assert settings.test_size <= DRY_RUN_CAPS["test_size"]
    assert settings.seeds == full.seeds[:DRY_RUN_SEEDS] and len(settings.seeds) == 2
    assert settings.other_seeds == full.other_seeds[:1]  # each other score runs once
    assert (settings.units, settings.score, settings.other_scores, settings.max_dates) == (
        full.units, full.score, full.other_scores, full.max_dates)


def test_alignment_share_reads_the_weight_on_the_known_field():
    examples = dates.make_examples(3, max_dates=1, seed=0)
    n_out = max(len(t) for t in examples.targets) + 1
    n_in = max(len(s) for s in examples.sources)
    right = np.zeros((3, n_out, n_in), dtype="float32")
    for i in range(3):
        known = examples.alignment(i).astype("float32")
        # all weight on the right field, spread evenly over its characters
        sums = known.sum(axis=1, keepdims=True)
        right[i, :len(known), :known.shape[1]] = np.divide(
            known, sums, out=np.zeros_like(known), where=sums > 0)
    exact = np.array([True, True, False])
    assert decoding.alignment_share(decoding.Decoded(None, right), exact, examples) == (
        pytest.approx(1.0))
    wrong = np.roll(right, 1, axis=2)  # shifted by one character: partly off the field
    assert decoding.alignment_share(decoding.Decoded(None, wrong), exact, examples) < 0.9
    assert np.isnan(decoding.alignment_share(decoding.Decoded(None, right),
                                             np.zeros(3, bool), examples))
    with pytest.raises(ValueError, match="no attention weights"):
        decoding.alignment_share(decoding.Decoded(None, None), exact, examples)
