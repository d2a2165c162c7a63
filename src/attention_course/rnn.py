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

    from attention_course.backend import gradients
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
    vectors = embedding(ids)
    mask = embedding.compute_mask(ids)

    def total_loss(vectors):
        probability = output(recurrent(vectors, mask=mask))
        return keras.ops.sum(keras.losses.binary_crossentropy(labels[:, None], probability))

    (gradient,) = gradients(total_loss, [vectors])
    return np.linalg.norm(np.asarray(gradient, dtype=np.float64), axis=-1)
