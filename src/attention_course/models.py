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

import keras

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
