"""The simple recurrent network (Elman, 1990) in NumPy, and gradients through time.

The recurrence, with row vectors as Keras stores them::

    h_t = tanh(x_t W + h_{t-1} U + b)

Shapes: inputs ``x`` (batch, time, features); ``kernel`` W (features, units);
``recurrent_kernel`` U (units, units); ``bias`` b (units,); states (batch, units).
:func:`simple_rnn_forward` computes what ``keras.layers.SimpleRNN`` computes with the same
weights (``layer.get_weights()`` returns ``[kernel, recurrent_kernel, bias]``), masking
included: at a masked step the state is carried over unchanged.
"""

from __future__ import annotations

import numpy as np


def _check_weights(features: int, kernel, recurrent_kernel, bias):
    kernel = np.asarray(kernel, dtype=np.float64)
    recurrent_kernel = np.asarray(recurrent_kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != features:
        raise ValueError(
            f"kernel must have shape (features={features}, units), got {kernel.shape}"
        )
    units = kernel.shape[1]
    if recurrent_kernel.shape != (units, units):
        raise ValueError(
            f"recurrent_kernel must have shape (units, units) = ({units}, {units}) to match "
            f"kernel {kernel.shape}, got {recurrent_kernel.shape}"
        )
    bias = np.zeros(units) if bias is None else np.asarray(bias, dtype=np.float64)
    if bias.shape != (units,):
        raise ValueError(f"bias must have shape (units,) = ({units},), got {bias.shape}")
    return kernel, recurrent_kernel, bias


def simple_rnn_step(x_t, h_prev, kernel, recurrent_kernel, bias=None) -> np.ndarray:
    """One step of the recurrence: ``tanh(x_t W + h_prev U + b)``.

    ``x_t`` (batch, features), ``h_prev`` (batch, units) -> (batch, units).
    """
    x_t = np.asarray(x_t, dtype=np.float64)
    h_prev = np.asarray(h_prev, dtype=np.float64)
    if x_t.ndim != 2:
        raise ValueError(f"x_t must have shape (batch, features), got {x_t.shape}")
    kernel, recurrent_kernel, bias = _check_weights(x_t.shape[1], kernel, recurrent_kernel, bias)
    if h_prev.shape != (x_t.shape[0], kernel.shape[1]):
        raise ValueError(
            f"h_prev must have shape (batch, units) = ({x_t.shape[0]}, {kernel.shape[1]}), "
            f"got {h_prev.shape}"
        )
    return np.tanh(x_t @ kernel + h_prev @ recurrent_kernel + bias)


def simple_rnn_forward(
    inputs,
    kernel,
    recurrent_kernel,
    bias=None,
    return_sequences: bool = False,
    mask=None,
    initial_state=None,
) -> np.ndarray:
    """Run the recurrence over a batch of sequences.

    Args:
        inputs: (batch, time, features).
        kernel, recurrent_kernel, bias: W (features, units), U (units, units), b (units,).
        return_sequences: return every state (batch, time, units) instead of the last
            (batch, units).
        mask: optional boolean (batch, time), True on real steps; a masked step keeps the
            previous state (and, with ``return_sequences``, repeats it), as Keras does.
        initial_state: optional h_0 (batch, units); zeros by default.

    Returns the last state (batch, units), or all states (batch, time, units).
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 3:
        raise ValueError(f"inputs must have shape (batch, time, features), got {inputs.shape}")
    batch, steps, features = inputs.shape
    kernel, recurrent_kernel, bias = _check_weights(features, kernel, recurrent_kernel, bias)
    units = kernel.shape[1]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (batch, steps):
            raise ValueError(
                f"mask must have shape (batch, time) = ({batch}, {steps}) to match inputs "
                f"{inputs.shape}, got {mask.shape}"
            )
        mask = mask.astype(bool)
    if initial_state is None:
        state = np.zeros((batch, units))
    else:
        state = np.asarray(initial_state, dtype=np.float64)
        if state.shape != (batch, units):
            raise ValueError(
                f"initial_state must have shape (batch, units) = ({batch}, {units}), "
                f"got {state.shape}"
            )
    states = np.empty((batch, steps, units))
    for t in range(steps):
        new = simple_rnn_step(inputs[:, t], state, kernel, recurrent_kernel, bias)
        state = new if mask is None else np.where(mask[:, t, None], new, state)
        states[:, t] = state
    return states if return_sequences else state


def gradient_norms_through_time(model, ids, labels) -> np.ndarray:
    """How strongly the loss reacts to each word: ``||dL/de_t||`` per review and step.

    ``model`` is a classifier from :mod:`attention_course.models` (an ``embedding`` layer,
    a ``recurrent`` layer, an ``output`` layer); ``ids`` (batch, time) padded reviews,
    ``labels`` (batch,) 0/1. e_t is the embedding vector of the word at step t, L the binary
    cross-entropy of each review. Since e_t only reaches the loss through the states
    h_t, ..., h_T, this norm is how much gradient survives the trip back from the end of the
    review to step t. Returns (batch, time); padded steps get 0.
    """
    import keras

    from attention_course.models import EMBEDDING_LAYER, OUTPUT_LAYER, RECURRENT_LAYER

    ids = np.asarray(ids)
    labels = np.asarray(labels, dtype=np.float32)
    if ids.ndim != 2 or labels.shape != (len(ids),):
        raise ValueError(
            f"ids must be (batch, time) and labels (batch,), got {ids.shape} and {labels.shape}"
        )
    embedding = model.get_layer(EMBEDDING_LAYER)
    recurrent = model.get_layer(RECURRENT_LAYER)
    output = model.get_layer(OUTPUT_LAYER)
    mask = embedding.compute_mask(ids)

    def total_loss(vectors):
        probability = output(recurrent(vectors, mask=mask))
        return keras.ops.sum(keras.losses.binary_crossentropy(labels[:, None], probability))

    return input_gradient_norms(total_loss, embedding(ids))


def input_gradient_norms(loss_of, vectors) -> np.ndarray:
    """``||dL/dv_t||`` for every row and position of ``vectors``: how much gradient reaches t.

    ``vectors`` (batch, time, d) float, the input vectors of a model (its embeddings);
    ``loss_of(vectors)`` returns the scalar loss L computed from them (summed over the rows,
    so row b's gradient is its own loss's). Returns float64 (batch, time). Positions the
    loss does not depend on (masked padding) get exactly 0. The tool behind
    :func:`gradient_norms_through_time` and :func:`seq2seq_gradient_norms`; the gradient
    itself comes from :func:`attention_course.backend.gradients`.
    """
    from attention_course.backend import gradients

    if len(tuple(vectors.shape)) != 3:
        raise ValueError(f"vectors must have shape (batch, time, d), got {tuple(vectors.shape)}")
    (gradient,) = gradients(loss_of, [vectors])
    return np.linalg.norm(np.asarray(gradient, dtype=np.float64), axis=-1)


def seq2seq_gradient_norms(model, source, target_in, target_out) -> np.ndarray:
    """How strongly an encoder–decoder's loss reacts to each input character: (batch, T_s).

    ``model`` is a :func:`attention_course.models.build_seq2seq` model; ``source`` (batch, T_s),
    ``target_in`` and ``target_out`` (batch, T_t) int ids padded with 0 (teacher forcing).
    L is each example's cross-entropy summed over its target tokens, and the result
    ``||dL/de_j||`` for the vector e_j of input character j. Without attention, e_j reaches
    the loss only through the encoder's final states, so its gradient must travel through
    every step between j and the ends of the input; with attention, every decoder step also
    reads e_j's encoder state directly. Padded positions get 0.
    """
    import keras

    from attention_course.models import SOURCE_EMBEDDING, seq2seq_forward

    source = np.asarray(source, dtype=np.int32)
    target_in = np.asarray(target_in, dtype=np.int32)
    target_out = np.asarray(target_out, dtype=np.int32)
    if source.ndim != 2 or target_in.shape != target_out.shape or target_in.ndim != 2 \
            or len(target_in) != len(source):
        raise ValueError(
            f"source must be (batch, T_s) and target_in, target_out (batch, T_t) with the same "
            f"batch, got {source.shape}, {target_in.shape} and {target_out.shape}"
        )
    mask = source != 0
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=0, reduction="sum")

    def total_loss(vectors):
        return loss(target_out, seq2seq_forward(model, vectors, mask, target_in))

    return input_gradient_norms(total_loss, model.get_layer(SOURCE_EMBEDDING)(source))
