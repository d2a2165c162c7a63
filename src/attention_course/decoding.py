"""Decoding: how a trained encoder–decoder writes an output, one token at a time.

Training uses **teacher forcing**: the decoder's input at step t is the *true* token t − 1, so
all steps run at once (:func:`teacher_forced_ids`). At inference there is no true output; the
**greedy decoding loop** (:func:`greedy_decode`) feeds the model its *own* previous token,
picks the most probable next one, and stops at ``<end>``. A mistake then changes every later
input, which teacher forcing never shows: a model's exact-match accuracy under greedy
decoding (:func:`exact_match`) is the honest measure, its teacher-forced token accuracy
(:func:`token_accuracy`) an optimistic one.

Works with the models of :func:`attention_course.models.build_seq2seq` (it runs their parts
through :func:`~attention_course.models.seq2seq_encode` and
:func:`~attention_course.models.seq2seq_decode`). Shapes: ``source`` int (n, T_s) padded with 0
at the end; outputs int (n, max_length), 0 after ``<end>``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from attention_course import backend
from attention_course.batching import bucket_batches, row_widths
from attention_course.models import SOURCE_EMBEDDING, seq2seq_decode, seq2seq_encode

__all__ = ["Decoded", "alignment_share", "evaluate", "exact_match", "greedy_decode",
           "teacher_forced_ids", "token_accuracy"]


@dataclass
class Decoded:
    """What :func:`greedy_decode` returns.

    ``ids`` int32 (n, max_length): the chosen tokens, ``<end>`` included, 0 after it.
    ``weights`` float32 (n, max_length, T_s): the attention weights of each output step over
    the input positions (0 after ``<end>`` and on padding), or None for a model without
    attention (or when not asked for).
    """

    ids: np.ndarray
    weights: np.ndarray | None


def _check_source(source) -> np.ndarray:
    source = np.asarray(source)
    if source.ndim != 2 or not np.issubdtype(source.dtype, np.integer):
        raise ValueError(f"source must be an int matrix (n, T_s) of ids padded with 0, got "
                         f"shape {source.shape} dtype {source.dtype}")
    return source.astype(np.int32)


def _batches(source: np.ndarray, batch_size: int):
    """Index arrays of similar-length inputs and the width each batch needs."""
    widths = row_widths(source)
    for index in bucket_batches(widths, batch_size):
        yield index, int(widths[index].max())


_PARTS = weakref.WeakKeyDictionary()


def _encoder_and_step(model):
    """Two functional models sharing ``model``'s layers, built once per model.

    ``encoder``: source ids (b, T_s) -> (states (b, T_s, d), summary (b, d)).
    ``step``: (states, source mask (b, T_s), previous token (b, 1), decoder state (b, d),
    summary (b, d)) ->
    (logits (b, V_t), new state (b, d)[, weights (b, T_s)]): one decoder step. They run
    compiled (:func:`attention_course.backend.compiled_call`, traced once for any shape).
    """
    if model not in _PARTS:
        source = keras.Input(shape=(None,), dtype="int32")
        states, summary = seq2seq_encode(model, model.get_layer(SOURCE_EMBEDDING)(source),
                                         ops.not_equal(source, 0))
        encoder = keras.Model(source, [states, summary])
        d = summary.shape[-1]
        inputs = [keras.Input(shape=(None, states.shape[-1])),
                  keras.Input(shape=(None,), dtype="bool"),
                  keras.Input(shape=(1,), dtype="int32"),
                  keras.Input(shape=(d,)),
                  keras.Input(shape=(d,))]
        logits, decoder_states, weights = seq2seq_decode(model, *inputs)
        outputs = [logits[:, -1], decoder_states[:, -1]]
        if weights is not None:
            outputs.append(weights[:, 0])
        _PARTS[model] = encoder, keras.Model(inputs, outputs)
    return _PARTS[model]


def greedy_decode(model, source, max_length: int, start_id: int = 1, end_id: int = 2,
                  batch_size: int = 512, return_weights: bool = True) -> Decoded:
    """Greedy decoding of a batch of inputs, written out step by step.

    For each batch of inputs (similar lengths together): encode once; set the decoder's state
    to the encoder's summary and its input to ``<start>``; then, ``max_length`` times at most,
    run one decoder step, take the most probable token (the argmax of the logits), feed it
    back as the next input; a row is finished after ``<end>`` (its later tokens and weights are
    set to 0). The loop stops early once every row is finished.

    Args:
        model: a :func:`~attention_course.models.build_seq2seq` model.
        source: int (n, T_s), padded with 0 at the end.
        max_length: the most tokens to produce per row (``<end>`` included).
        start_id, end_id: the ids of ``<start>`` and ``<end>`` in the target vocabulary.
        batch_size: rows decoded together.
        return_weights: also return the attention weights of every step.

    Returns a :class:`Decoded`. Raises ``ValueError`` for a source that is not an int matrix
    or a ``max_length`` below 1.
    """
    source = _check_source(source)
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    n, width_all = source.shape
    ids = np.zeros((n, max_length), dtype=np.int32)
    weights_out = None
    encoder, step = _encoder_and_step(model)
    encode = backend.compiled_call(encoder, [(2, "int32")])
    has_weights = len(step.outputs) == 3
    run_step = backend.compiled_call(step, [(3, "float32"), (2, "bool"), (2, "int32"),
                                            (2, "float32"), (2, "float32")])
    for index, width in _batches(source, batch_size):
        batch = source[index, :width]
        mask = batch != 0
        states, summary = encode(batch)
        state = summary
        token = np.full((len(index), 1), start_id, dtype=np.int32)
        finished = np.zeros(len(index), dtype=bool)
        for t in range(max_length):
            outputs = run_step(states, mask, token, state, summary)
            logits, state = ops.convert_to_numpy(outputs[0]), outputs[1]
            chosen = np.argmax(logits, axis=-1).astype(np.int32)
            chosen[finished] = 0
            ids[index, t] = chosen
            if return_weights and has_weights:
                if weights_out is None:
                    weights_out = np.zeros((n, max_length, width_all), dtype=np.float32)
                weights = np.array(ops.convert_to_numpy(outputs[2]))
                weights[finished] = 0
                weights_out[index, t, :width] = weights
            finished |= chosen == end_id
            if finished.all():
                break
            token = chosen[:, None]
    return Decoded(ids, weights_out)


def teacher_forced_ids(model, source, target_in, batch_size: int = 512) -> np.ndarray:
    """The most probable token at every step under teacher forcing: int32 (n, T_t).

    ``target_in`` int (n, T_t) holds the *true* previous tokens (``<start>``, then the
    target), so each step's prediction is conditioned on the right history, whatever the
    model predicted before.
    """
    source = _check_source(source)
    target_in = np.asarray(target_in, dtype=np.int32)
    if target_in.ndim != 2 or len(target_in) != len(source):
        raise ValueError(f"target_in must be (n, T_t) with n = {len(source)}, got shape "
                         f"{target_in.shape}")
    out = np.zeros(target_in.shape, dtype=np.int32)
    target_widths = row_widths(target_in)
    forward = backend.compiled_call(model, [(2, "int32"), (2, "int32")])
    for index, width in _batches(source, batch_size):
        columns = int(target_widths[index].max())
        logits = forward(source[index, :width], target_in[index, :columns])
        out[index, :columns] = np.argmax(ops.convert_to_numpy(logits), axis=-1)
    return out


def token_accuracy(predicted, target_out) -> float:
    """Share of the target's tokens (padding excluded) that ``predicted`` gets right.

    ``predicted`` and ``target_out`` int (n, T); padding is id 0 in ``target_out``.
    """
    predicted, target_out = np.asarray(predicted), np.asarray(target_out)
    if predicted.shape != target_out.shape:
        raise ValueError(f"predicted {predicted.shape} and target_out {target_out.shape} "
                         "must have the same shape")
    real = target_out != 0
    if not real.any():
        raise ValueError("target_out holds no tokens (all padding)")
    return float(((predicted == target_out) & real).sum() / real.sum())


def exact_match(predicted_texts, target_texts) -> np.ndarray:
    """Whether each predicted text equals its target exactly: bool (n,)."""
    predicted_texts, target_texts = list(predicted_texts), list(target_texts)
    if len(predicted_texts) != len(target_texts):
        raise ValueError(f"{len(predicted_texts)} predictions for {len(target_texts)} "
                         "targets")
    return np.array([p == t for p, t in zip(predicted_texts, target_texts, strict=True)],
                    dtype=bool)


def alignment_of(decoded: Decoded, i: int, source_text: str, vocabulary) -> dict:
    """Example ``i``'s attention matrix, cut to its real tokens, with labels: JSON-ready.

    Returns ``{"weights": (T_out, T_in) list of lists, "output_tokens": [...],
    "input_tokens": [...]}``: one row per produced output token (``<end>`` included, shown
    as ``"<end>"``; a space as ``"␣"``), one column per input character of ``source_text``.
    This is what :func:`attention_course.plots.plot_attention_heatmap` and
    :func:`attention_course.interactive.alignment_explorer` take, and what a chapter saves
    with :func:`attention_course.results.save_results`. ``vocabulary`` is the target
    :class:`~attention_course.dates.Vocabulary`. Raises ``ValueError`` when ``decoded`` has
    no weights (a model without attention).
    """
    if decoded.weights is None:
        raise ValueError("these outputs carry no attention weights (a model without "
                         "attention, or greedy_decode(..., return_weights=False))")
    ids = decoded.ids[i]
    end = vocabulary.id("<end>")
    stops = np.flatnonzero(ids == end)
    count = int(stops[0]) + 1 if len(stops) else len(ids)  # no <end>: every step
    tokens = [vocabulary.tokens[t] for t in ids[:count]]
    tokens = ["␣" if t == " " else t for t in tokens]
    inputs = ["␣" if c == " " else c for c in source_text]
    weights = decoded.weights[i, :count, :len(source_text)]
    return {"weights": weights.astype(float).round(6).tolist(), "output_tokens": tokens,
            "input_tokens": inputs}


def evaluate(model, examples, source, target_in, target_out, vocabulary,
             max_length: int) -> dict:
    """Greedy outputs of ``model`` and both of its scores on a test set.

    ``examples`` are the test :class:`~attention_course.dates.DateExamples` (their
    ``targets`` are the right texts); ``source`` int (n, T_s), ``target_in`` and
    ``target_out`` int (n, T_t) are their encoded arrays (teacher forcing reads
    ``target_in``); ``vocabulary`` is the target vocabulary. Returns ``{"decoded":
    Decoded, "texts": list of n str, "exact": bool (n,) exact match of the greedy texts,
    "token_accuracy": float, teacher-forced, "forced": int (n, T_t) teacher-forced ids}``.
    """
    decoded = greedy_decode(model, source, max_length)
    texts = vocabulary.decode(decoded.ids)
    forced = teacher_forced_ids(model, source, target_in)
    return {"decoded": decoded, "texts": texts,
            "exact": exact_match(texts, examples.targets),
            "token_accuracy": token_accuracy(forced, target_out), "forced": forced}


def alignment_share(decoded: Decoded, exact, examples) -> float:
    """Mean attention weight on the right input field, over the exactly decoded examples.

    For each example decoded exactly (``exact`` bool (n,)), each output character that comes
    from an input field (``examples.alignment(i)``: digits, and the space between two dates)
    contributes the weight its row puts on that field; the result is the mean, a fraction in
    [0, 1]. NaN when no example was decoded exactly (no alignment to read). Raises
    ``ValueError`` when ``decoded`` has no weights.
    """
    if decoded.weights is None:
        raise ValueError("these outputs carry no attention weights (a model without "
                         "attention, or greedy_decode(..., return_weights=False))")
    shares = []
    for i in np.flatnonzero(np.asarray(exact, dtype=bool)):
        known = examples.alignment(i)  # (len(target) + 1, len(source))
        rows = known.any(axis=1)
        got = decoded.weights[i, :len(known), :known.shape[1]]
        shares.append((got * known).sum(axis=1)[rows].mean())
    return float(np.mean(shares)) if shares else float("nan")
