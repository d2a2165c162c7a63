"""Model builders used by the chapters.

Every classifier here reads a batch of padded reviews, an int matrix of shape (batch, time)
with 0 as padding, and returns the probability that each review is positive, shape (batch, 1).

The recurrent classifiers share one layout::

    ids (batch, time) -> Embedding(mask_zero=True) -> (batch, time, embedding_dim)
        -> recurrent layer, last state only -> (batch, units)
        -> Dense(1, sigmoid) -> (batch, 1)

The embedding's mask makes the recurrent layer skip padded steps, so its last state is the
state after the review's last real word. The recurrent layers keep Keras' defaults
(``tanh``/``sigmoid`` activations, no ``recurrent_dropout``, not unrolled): with reviews padded
at the end ("post") GRU and LSTM then run on cuDNN when a GPU is present.
"""

from __future__ import annotations

import weakref

import keras
from keras import ops

# Layer names the builders use, so that analysis code can find the parts of a model.
EMBEDDING_LAYER = "embedding"
RECURRENT_LAYER = "recurrent"
OUTPUT_LAYER = "output"

RECURRENT_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}


def compile_classifier(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Compile ``model`` for binary classification: Adam, binary cross-entropy, accuracy.

    Returns the same model, compiled.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _check_sizes(**sizes: int | None) -> None:
    for name, value in sizes.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def build_recurrent_classifier(
    kind: str,
    num_words: int = 10_000,
    embedding_dim: int = 32,
    units: int = 32,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    name: str | None = None,
) -> keras.Model:
    """A compiled classifier: Embedding -> ``kind``'s last state -> sigmoid.

    Args:
        kind: ``"simple_rnn"``, ``"gru"`` or ``"lstm"``.
        num_words: vocabulary size: ids in ``[0, num_words)``, 0 = padding.
        embedding_dim: size of each word vector.
        units: size of the recurrent state.
        maxlen: length of the input rows, or None to accept any length.
        learning_rate: Adam's learning rate.
        name: the model's name (default: ``kind``).

    Input (batch, maxlen) int ids; output (batch, 1), P(review is positive).
    """
    if kind not in RECURRENT_LAYERS:
        known = ", ".join(RECURRENT_LAYERS)
        raise ValueError(f"kind must be one of {known}, got {kind!r}")
    _check_sizes(num_words=num_words, embedding_dim=embedding_dim,
                 units=units, maxlen=maxlen)
    if num_words < 4:
        raise ValueError(
            f"num_words must exceed the marker ids 0-2, got {num_words}")
    # Fix 1: a padded int matrix of ids comes in, shape (batch, maxlen).
    ids = keras.Input(shape=(maxlen,), dtype="int32", name="ids")
    # Fix 2: each id becomes a learned vector; id 0 (padding) is masked.
    vectors = keras.layers.Embedding(num_words, embedding_dim,
                                     mask_zero=True,
                                     name=EMBEDDING_LAYER)(ids)
    # Fix 4: Keras' defaults (tanh, no recurrent_dropout): cuDNN-eligible.
    recurrent = RECURRENT_LAYERS[kind](units, name=RECURRENT_LAYER)
    state = recurrent(vectors)  # last state, (batch, units)
    # Fix 3: a probability, trained with binary cross-entropy.
    probability = keras.layers.Dense(1, activation="sigmoid",
                                     name=OUTPUT_LAYER)(state)
    model = keras.Model(ids, probability, name=name or kind)
    return compile_classifier(model, learning_rate)


def build_simple_rnn(
    num_words: int = 10_000,
    embedding_dim: int = 32,
    units: int = 32,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    name: str = "simple_rnn",
) -> keras.Model:
    """Embedding -> ``SimpleRNN`` (last state) -> Dense(1, sigmoid), compiled.

    See :func:`build_recurrent_classifier` for the arguments and shapes.
    """
    return build_recurrent_classifier(
        "simple_rnn", num_words, embedding_dim, units, maxlen, learning_rate, name
    )


def build_gru(
    num_words: int = 10_000,
    embedding_dim: int = 32,
    units: int = 32,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    name: str = "gru",
) -> keras.Model:
    """Embedding -> ``GRU`` (last state) -> Dense(1, sigmoid), compiled.

    See :func:`build_recurrent_classifier` for the arguments and shapes.
    """
    return build_recurrent_classifier(
        "gru", num_words, embedding_dim, units, maxlen, learning_rate, name
    )


def build_lstm(
    num_words: int = 10_000,
    embedding_dim: int = 32,
    units: int = 32,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    name: str = "lstm",
) -> keras.Model:
    """Embedding -> ``LSTM`` (last state) -> Dense(1, sigmoid), compiled.

    See :func:`build_recurrent_classifier` for the arguments and shapes.
    """
    return build_recurrent_classifier(
        "lstm", num_words, embedding_dim, units, maxlen, learning_rate, name
    )



# -- chapter 5: one builder for a controlled comparison of encoders ---------------------------

ATTENTION_LAYER = "attention"

ENCODERS = ("bag_of_embeddings", "simple_rnn", "gru", "gru_mean", "gru_max", "gru_attention",
            "bigru_attention", "transformer")
"""What :func:`build_review_classifier` can put between the word vectors and the output."""

ENCODER_NAMES = {
    "bag_of_embeddings": "bag of embeddings",
    "simple_rnn": "SimpleRNN (last state)",
    "gru": "GRU (last state)",
    "gru_mean": "GRU + mean pooling",
    "gru_max": "GRU + max pooling",
    "gru_attention": "GRU + attention",
    "bigru_attention": "BiGRU + attention",
    "transformer": "Transformer encoder + attention",
}
"""Display names of the :data:`ENCODERS`, for tables and figures."""


def _dropout(tensor, rate: float, name: str):
    """``Dropout(rate)`` on ``tensor`` (it keeps the Keras mask), or ``tensor`` if rate is 0."""
    return keras.layers.Dropout(rate, name=name)(tensor) if rate else tensor


def build_review_classifier(
    encoder: str,
    num_words: int = 10_000,
    embedding_dim: int = 32,
    units: int = 32,
    maxlen: int | None = None,
    learning_rate: float = 1e-3,
    dropout: float = 0.0,
    score: str = "additive",
    name: str | None = None,
    num_heads: int = 2,
    ff_dim: int | None = None,
    positions: str = "sinusoidal",
    norm_first: bool = False,
    encoder_dropout: float = 0.1,
    max_positions: int | None = None,
) -> keras.Model:
    """A compiled classifier whose parts are identical except for the ``encoder``.

    ids (batch, time) -> Embedding(mask_zero=True) -> Dropout -> (batch, time, embedding_dim)
    -> encoder -> (batch, d) -> Dropout -> Dense(1, sigmoid) -> (batch, 1), where the
    encoder is one of :data:`ENCODERS`:

    - ``"bag_of_embeddings"``: the mean of the real words' vectors (word order ignored),
      d = embedding_dim;
    - ``"simple_rnn"``, ``"gru"``: the recurrent layer's last state, d = units;
    - ``"gru_mean"``: the masked mean of every GRU state, attention with uniform weights
      (:class:`~attention_course.pooling.MaskedMeanPooling`), d = units;
    - ``"gru_max"``: the masked feature-wise max of every GRU state
      (:class:`~attention_course.pooling.MaskedMaxPooling`), d = units;
    - ``"gru_attention"``: every GRU state, pooled by
      :class:`~attention_course.layers.AttentionPooling` (``score``), d = units;
    - ``"bigru_attention"``: the same over a bidirectional GRU, d = 2 * units.
    - ``"transformer"``: positional encodings (``positions``: ``"sinusoidal"`` or
      ``"learned"``, a table of ``max_positions`` rows, default ``maxlen`` or 2048) added to
      the word vectors, one
      :class:`~attention_course.transformer.TransformerEncoderBlock` (``num_heads`` heads of
      size embedding_dim / num_heads, feed-forward size ``ff_dim``, default 4 ·
      embedding_dim, ``norm_first``, dropout ``encoder_dropout`` inside the block), then the
      same attention pooling as ``"gru_attention"``, d = embedding_dim (``units`` unused).
      Against ``"gru_attention"`` only the layer under the pooling differs.

    The four GRU poolings share the GRU (same size, same initialisation for a given seed)
    and differ only in how its states become one vector; ``"gru_attention"`` adds the
    pooling's own parameters (query, and ``W_q``, ``W_k``, ``v`` for the additive score).

    ``dropout`` is the rate of both dropout layers (0 leaves them out). The attention
    pooling layer is named :data:`ATTENTION_LAYER` and also outputs its weights
    (batch, time), which :func:`attention_weights` reads. Raises ``ValueError`` for an
    unknown ``encoder``, a non-positive size or a dropout outside [0, 1).
    """
    from attention_course.layers import AttentionPooling
    from attention_course.pooling import MaskedMaxPooling, MaskedMeanPooling

    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    _check_sizes(num_words=num_words, embedding_dim=embedding_dim, units=units, maxlen=maxlen)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    ids = keras.Input(shape=(maxlen,), dtype="int32", name="ids")
    vectors = keras.layers.Embedding(
        num_words, embedding_dim, mask_zero=True, name=EMBEDDING_LAYER
    )(ids)
    vectors = _dropout(vectors, dropout, "embedding_dropout")
    if encoder == "bag_of_embeddings":
        summary = keras.layers.GlobalAveragePooling1D(name="mean")(vectors)
    elif encoder in RECURRENT_LAYERS:
        summary = RECURRENT_LAYERS[encoder](units, name=RECURRENT_LAYER)(vectors)
    elif encoder == "transformer":
        _check_sizes(max_positions=max_positions)
        states = _transformer_encoder(vectors, max_positions or maxlen or 2048, num_heads,
                                      ff_dim, positions, norm_first, encoder_dropout)
        summary, _ = AttentionPooling(score, return_weights=True, name=ATTENTION_LAYER)(states)
    else:
        both_ways = encoder == "bigru_attention"
        recurrent = keras.layers.GRU(
            units, return_sequences=True, name="gru" if both_ways else RECURRENT_LAYER
        )
        if both_ways:
            recurrent = keras.layers.Bidirectional(recurrent, name=RECURRENT_LAYER)
        states = recurrent(vectors)  # (batch, time, d)
        if encoder == "gru_mean":
            summary = MaskedMeanPooling(name="mean")(states)
        elif encoder == "gru_max":
            summary = MaskedMaxPooling(name="max")(states)
        else:
            summary, _ = AttentionPooling(score, return_weights=True,
                                          name=ATTENTION_LAYER)(states)
    summary = _dropout(summary, dropout, "summary_dropout")
    probability = keras.layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER)(summary)
    return compile_classifier(keras.Model(ids, probability, name=name or encoder),
                              learning_rate)


POSITIONS_LAYER = "positions"
ENCODER_LAYER = "encoder"


def _transformer_encoder(vectors, max_positions, num_heads, ff_dim, positions, norm_first,
                         dropout):
    """Word vectors (batch, time, d) -> positions added -> one encoder block -> (batch, time, d)."""
    from attention_course.positional import PositionalEncoding
    from attention_course.transformer import TransformerEncoderBlock

    d = vectors.shape[-1]
    _check_sizes(num_heads=num_heads, ff_dim=ff_dim)
    if d % num_heads:
        raise ValueError(f"embedding_dim = {d} must be a multiple of num_heads = {num_heads}")
    vectors = PositionalEncoding(positions, max_length=max_positions,
                                 name=POSITIONS_LAYER)(vectors)
    block = TransformerEncoderBlock(num_heads, ff_dim or 4 * d, key_dim=d // num_heads,
                                    dropout=dropout, norm_first=norm_first,
                                    name=ENCODER_LAYER)
    return block(vectors)


def self_attention_maps(model: keras.Model, x):
    """The self-attention weights of a ``"transformer"`` review classifier for reviews ``x``.

    ``x`` is a padded int matrix (n, time) (0 = padding), best cut to its longest review.
    Returns a NumPy array (n, heads, time, time): ``[i, h, q, k]`` is how much position q of
    review i attends to position k in head h (rows of real positions sum to 1; padded
    positions get 0 as keys and all-zero rows as queries). The model runs without dropout.
    """
    import numpy as np

    try:
        layers_ = [model.get_layer(name)
                   for name in (EMBEDDING_LAYER, POSITIONS_LAYER, ENCODER_LAYER)]
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} is not a transformer review classifier (layers "
            f"{EMBEDDING_LAYER!r}, {POSITIONS_LAYER!r}, {ENCODER_LAYER!r}); build it with "
            "build_review_classifier(\"transformer\", ...)"
        ) from err
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"x must be a padded int matrix (n, time), got shape {x.shape} "
                         f"dtype {x.dtype}")
    embedding, positions, encoder = layers_
    vectors = positions(embedding(keras.ops.convert_to_tensor(x, "int32")))
    mask = keras.ops.convert_to_tensor(x != 0)
    _, weights = encoder(vectors, mask=mask, training=False, return_attention_scores=True)
    return keras.ops.convert_to_numpy(weights)


# One weight-reading model per classifier: a new one per call would be traced anew each time.
_WEIGHT_READERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attention_weights(model: keras.Model, x, batch_size: int = 256):
    """The attention weights of ``model`` for padded reviews ``x`` (n, time): shape (n, time).

    ``model`` must contain an ``AttentionPooling`` layer named :data:`ATTENTION_LAYER` built
    with ``return_weights=True`` (as :func:`build_review_classifier` builds it). Row i holds
    review i's weights: 0 on padding, summing to 1 over its words. The reviews are run in
    length buckets (:func:`attention_course.batching.predict_by_length`); the model that
    reads the weights is built and traced once per ``model``, so repeated calls neither
    retrace nor print TensorFlow's retracing warning.
    """
    import numpy as np

    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be a padded matrix (n, time), got shape {x.shape}")
    from attention_course.batching import predict_by_length

    if model not in _WEIGHT_READERS:
        try:
            layer = model.get_layer(ATTENTION_LAYER)
        except ValueError as err:
            raise ValueError(
                f"model {model.name!r} has no layer named {ATTENTION_LAYER!r}; build it with "
                "build_review_classifier(\"gru_attention\", ...)"
            ) from err
        outputs = layer.output
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
            raise ValueError(
                f"layer {ATTENTION_LAYER!r} must be built with return_weights=True"
            )
        _WEIGHT_READERS[model] = keras.Model(model.inputs, outputs[1])
    return predict_by_length(_WEIGHT_READERS[model], x, batch_size, per_position=True)


# -- chapter 6: encoder–decoder, with and without attention -----------------------------------

SOURCE_EMBEDDING = "source_embedding"
ENCODER = "encoder"
TARGET_EMBEDDING = "target_embedding"
DECODER = "decoder"
CROSS_ATTENTION = "attention"
ATTENTIONAL = "attentional"
LOGITS = "logits"

SEQ2SEQ_ATTENTION = (None, "additive", "dot", "general")
"""What :func:`build_seq2seq` accepts as ``attention``: None (no attention) or a score."""


class _Layers:
    """Layers by name before a model exists (what :func:`seq2seq_forward` needs from it)."""

    def __init__(self, layers):
        self._layers = {layer.name: layer for layer in layers}

    def get_layer(self, name: str):
        if name not in self._layers:
            raise ValueError(f"no layer named {name!r}")
        return self._layers[name]


def seq2seq_attention(model):
    """The :class:`~attention_course.layers.CrossAttention` layer of a :func:`build_seq2seq`
    model, or None for the model without attention."""
    try:
        return model.get_layer(CROSS_ATTENTION)
    except ValueError:
        return None


def seq2seq_encode(model, source_vectors, source_mask):
    """The encoder of a :func:`build_seq2seq` model: its states and its summary.

    ``source_vectors`` (batch, T_s, embedding_dim) float, ``source_mask`` (batch, T_s) bool
    (True on real characters). Returns ``(states, summary)``: states (batch, T_s, 2 units),
    the bidirectional GRU's state at every position (the keys and values of attention), and
    summary (batch, 2 units), its last forward and last backward states concatenated, which
    starts the decoder (Cho et al. 2014; Sutskever et al. 2014).
    """
    states, forward_last, backward_last = model.get_layer(ENCODER)(
        source_vectors, mask=source_mask)
    return states, ops.concatenate([forward_last, backward_last], axis=-1)


def seq2seq_decode(model, states, source_mask, target_ids, initial_state, summary=None):
    """The decoder of a :func:`build_seq2seq` model, run over ``target_ids``.

    ``states`` (batch, T_s, d) and ``source_mask`` (batch, T_s) from :func:`seq2seq_encode`;
    ``target_ids`` (batch, T_t) int, the decoder's inputs y_{i-1}; ``initial_state`` (batch,
    d), the decoder state before the first of them; ``summary`` (batch, d), the encoder's
    summary c (default: ``initial_state``, which it is at the start of a target). With
    T_t > 1 this is teacher forcing; with T_t = 1 it is one step of a decoding loop
    (:mod:`attention_course.decoding`). Step i computes::

        s_i = GRU([y_{i-1}; c], s_{i-1})                  the decoder state: the query
        c_i = c                                           without attention
        c_i, a_i = attend(s_i, states)                    with attention (keys = values)
        logits_i = W_o tanh(W_c [s_i; c_i])

    The GRU runs over all steps first; the attention of all steps is then one batched
    computation (possible because, as in Luong et al. 2015 without "input feeding", c_i is
    not fed back into the GRU).

    Returns ``(logits, decoder_states, weights)``: logits (batch, T_t, V_t), decoder states
    (batch, T_t, d) (the last one starts the next step), attention weights (batch, T_t, T_s),
    or None for a model without attention.
    """
    summary = initial_state if summary is None else summary
    target_vectors = model.get_layer(TARGET_EMBEDDING)(target_ids)
    # c at every step, (batch, T_t, d): the summary broadcast over the target's steps.
    fixed = ops.expand_dims(summary, 1) + ops.zeros_like(target_vectors[:, :, :1])
    decoder_states, _ = model.get_layer(DECODER)(
        ops.concatenate([target_vectors, fixed], axis=-1), initial_state=initial_state)
    attention = seq2seq_attention(model)
    if attention is None:
        contexts, weights = fixed, None
    else:
        contexts, weights = attention(decoder_states, states, key_mask=source_mask)
    # The output sees the state and the context: h~_i = tanh(W_c [s_i; c_i]).
    features = ops.concatenate([decoder_states, contexts], axis=-1)
    logits = model.get_layer(LOGITS)(model.get_layer(ATTENTIONAL)(features))
    return logits, decoder_states, weights


def seq2seq_forward(model, source_vectors, source_mask, target_ids,
                    return_weights: bool = False):
    """A :func:`build_seq2seq` model's teacher-forced logits, from the source's vectors.

    :func:`seq2seq_encode` then :func:`seq2seq_decode`: the one place where the model's
    parts are wired together. :func:`build_seq2seq` calls it on symbolic inputs; analysis
    code calls it on concrete tensors (for gradients with respect to ``source_vectors``).
    ``model`` is a built model (anything with ``get_layer``).

    Shapes: ``source_vectors`` (batch, T_s, embedding_dim); ``source_mask`` (batch, T_s) bool;
    ``target_ids`` (batch, T_t) int. Returns logits (batch, T_t, V_t), and with
    ``return_weights`` also the attention weights (batch, T_t, T_s) (None without attention).
    """
    states, summary = seq2seq_encode(model, source_vectors, source_mask)
    logits, _, weights = seq2seq_decode(model, states, source_mask, target_ids, summary)
    return (logits, weights) if return_weights else logits


def build_seq2seq(
    source_vocabulary_size: int,
    target_vocabulary_size: int,
    embedding_dim: int = 32,
    units: int = 64,
    attention: str | None = None,
    learning_rate=3e-3,
    attention_units: int | None = None,
    clipnorm: float | None = 1.0,
    name: str | None = None,
) -> keras.Model:
    """A compiled character-level encoder–decoder, with or without attention.

    The two arms differ in one thing only, the context c_i that the output layer reads::

        source ids (batch, T_s) -> Embedding -> bidirectional GRU (units each way)
            -> states h_j (batch, T_s, 2 units) and summary c (batch, 2 units)
        target ids (batch, T_t) -> Embedding -> y_{i-1}
        s_0 = c;  s_i = GRU([y_{i-1}; c], s_{i-1})      (a GRU of 2 units)
        attention=None:  c_i = c, the summary, at every step        (Cho et al. 2014)
        attention=score: c_i = attend(s_i, h), query s_i, keys and values h
                                                     (Luong et al. 2015, global attention)
        h~_i = tanh(W_c [s_i; c_i]) -> Dense(V_t) -> logits (batch, T_t, V_t)

    ``attention`` is one of :data:`SEQ2SEQ_ATTENTION`: None, or the score of
    :class:`~attention_course.layers.CrossAttention`: ``"dot"`` and ``"general"`` (Luong et
    al. 2015) or ``"additive"`` (Bahdanau et al. 2015; Luong et al. call it "concat"). The
    query is the current decoder state s_i and the context is not fed back into the GRU, as
    in Luong et al.'s global attention without input feeding; Bahdanau et al. query with
    s_{i-1} and feed c_i into the GRU, which forces the attention into the recurrent loop
    (several times slower to train on a CPU, measured while designing chapter 6). Sutskever
    et al. (2014) pass the input to the decoder through s_0 alone; Cho et al. also give the
    summary to every step, as both arms here do.

    Args:
        source_vocabulary_size, target_vocabulary_size: ids per side, 0 = padding.
        embedding_dim: size of the character vectors (both sides).
        units: size of each encoder direction; the decoder state has ``2 * units``.
        attention: None or a score name.
        learning_rate: Adam's learning rate (a float or a Keras schedule).
        attention_units: hidden size of the additive score (default ``2 * units``).
        clipnorm: Adam's gradient-norm clipping (None: none); recurrent encoder–decoders
            are usually trained with clipping (Sutskever et al. clip at 5).
        name: the model's name.

    Inputs ``[source, target_in]``: int32 (batch, T_s) and (batch, T_t), padded with 0 at
    the end; ``target_in`` is ``<start>`` followed by the target. Output: logits (batch, T_t,
    V_t) for the target followed by ``<end>``. Compiled with Adam and sparse categorical
    cross-entropy that ignores padding (id 0). Layers are named (:data:`SOURCE_EMBEDDING`,
    :data:`ENCODER`, :data:`TARGET_EMBEDDING`, :data:`DECODER`, :data:`CROSS_ATTENTION`,
    :data:`ATTENTIONAL`, :data:`LOGITS`) so that :func:`seq2seq_encode`,
    :func:`seq2seq_decode` and :mod:`attention_course.decoding` can run the parts. Raises
    ``ValueError`` for an unknown ``attention`` or a size below 1.
    """
    from attention_course.layers import CrossAttention

    if attention not in SEQ2SEQ_ATTENTION:
        raise ValueError(f"attention must be one of {SEQ2SEQ_ATTENTION}, got {attention!r}")
    _check_sizes(source_vocabulary_size=source_vocabulary_size,
                 target_vocabulary_size=target_vocabulary_size,
                 embedding_dim=embedding_dim, units=units)
    parts = [
        keras.layers.Embedding(source_vocabulary_size, embedding_dim, name=SOURCE_EMBEDDING),
        keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True), name=ENCODER),
        keras.layers.Embedding(target_vocabulary_size, embedding_dim, name=TARGET_EMBEDDING),
        keras.layers.GRU(2 * units, return_sequences=True, return_state=True, name=DECODER),
        keras.layers.Dense(2 * units, activation="tanh", name=ATTENTIONAL),
        keras.layers.Dense(target_vocabulary_size, name=LOGITS),
    ]
    if attention is not None:
        parts.append(CrossAttention(attention, units=attention_units, name=CROSS_ATTENTION))
    layers = _Layers(parts)
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    vectors = layers.get_layer(SOURCE_EMBEDDING)(source)
    logits = seq2seq_forward(layers, vectors, ops.not_equal(source, 0), target_in)
    model = keras.Model([source, target_in], logits,
                        name=name or f"seq2seq_{attention or 'no_attention'}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    return model


def reset_model(model: keras.Model, seed: int) -> keras.Model:
    """Start a compiled ``model`` again from seed ``seed``, keeping what Keras traced.

    ``model`` is a compiled functional model of this module (a review classifier, a
    sequence-to-sequence model; trained or not). Its variables become those of a new model of
    the same configuration built after ``keras.utils.set_random_seed(seed)``: the initial
    weights, and the random streams of its dropout layers (Keras' seed-generator states), so
    training it gives the run a freshly built model would give. Its optimizer forgets its steps
    and moments (Adam's iteration count and first and second moments go back to 0; the
    learning rate or schedule is kept). What stays is what was traced: Keras' compiled
    training step and the compiled inference functions (:mod:`attention_course.backend`), so
    training one configuration with several seeds traces them once (on a CPU, seconds per
    model). Returns ``model``. Raises ``ValueError`` if the rebuilt model's variables do not
    match the model's (a model whose configuration does not rebuild it).
    """
    keras.utils.set_random_seed(seed)
    problem = (f"model {model.name!r} does not rebuild from its configuration with the same "
               "variables; build a new model for each seed instead")
    try:
        fresh = keras.Model.from_config(model.get_config())
    except (NotImplementedError, TypeError, ValueError) as err:
        raise ValueError(f"{problem} ({type(err).__name__}: {err})") from err
    if [tuple(v.shape) for v in fresh.variables] != [tuple(v.shape) for v in model.variables]:
        raise ValueError(problem)
    for variable, start in zip(model.variables, fresh.variables, strict=True):
        variable.assign(start.value)
    optimizer = model.optimizer
    if optimizer is not None and optimizer.built:
        for variable in optimizer.variables:
            if variable.name != "learning_rate":
                variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))
    return model
