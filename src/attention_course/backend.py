"""What differs between Keras' backends (TensorFlow, JAX, PyTorch), in one place.

Keras 3 runs the same model code on TensorFlow, JAX or PyTorch, chosen by the environment
variable ``KERAS_BACKEND`` before ``keras`` is first imported (the course defaults to
``tensorflow``). The course's code computes with ``keras.ops`` and Keras layers; the few needs
that Keras leaves to the backend live here, with one implementation per backend:

- the device: :func:`gpu_available`, :func:`device_description`, :func:`versions`;
- gradients of a scalar with respect to tensors: :func:`gradients` (``tf.GradientTape``,
  ``jax.grad``, ``torch.autograd.grad``);
- a compiled inference pass: :func:`compiled_forward` (``tf.function`` with an input
  signature, ``jax.jit`` of ``model.stateless_call``, PyTorch eagerly without autograd);
- how the input pipeline hands batches of varying shape to ``model.fit``:
  :func:`fit_input` (a ``tf.data.Dataset`` on TensorFlow, the ``keras.utils.PyDataset``
  itself elsewhere) and :func:`width_multiple` (JAX compiles one program per input shape);
- TensorFlow's graph rewriting: :func:`skip_graph_rewrites`.

Only the active backend's library is imported, and only when a function needs it.
"""

from __future__ import annotations

import itertools
import os
import platform
import weakref
from collections.abc import Callable, Sequence

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")


def name() -> str:
    """The active Keras backend: ``"tensorflow"``, ``"jax"`` or ``"torch"``.

    Raises ``RuntimeError`` for a backend the course does not support (e.g. ``numpy``, which
    cannot train).
    """
    import keras

    active = keras.backend.backend()
    if active not in BACKENDS:
        raise RuntimeError(
            f"Keras backend {active!r} is not supported by the course; set KERAS_BACKEND to "
            f"one of {', '.join(BACKENDS)} before importing keras"
        )
    return active


def _cpu() -> str:
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


class _InferenceCall:
    """``model(x, training=False)`` through a weak reference (the model may be deleted)."""

    def __init__(self, model):
        self._model = weakref.ref(model)

    def __call__(self, x):
        return self._model()(x, training=False)


class _InferenceCallMany:
    """``model([x_1, ..., x_n], training=False)`` through a weak reference (several inputs)."""

    def __init__(self, model):
        self._model = weakref.ref(model)

    def __call__(self, *xs):
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this compiled function has been deleted; keep "
                               "a reference to the model while you use the function")
        return model(_model_inputs(xs), training=False)


class _TensorFlow:
    label = "TensorFlow"

    @staticmethod
    def gpus() -> list[str]:
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return names

    @staticmethod
    def version() -> str:
        import tensorflow as tf

        return f"TensorFlow {tf.__version__}"

    @staticmethod
    def gradients(fn, inputs):
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            for tensor in tensors:
                tape.watch(tensor)
            value = _check_scalar(fn(*tensors))
        return tape.gradient(value, tensors)

    @staticmethod
    def compiled_forward(model, rank, dtype):
        import tensorflow as tf

        spec = tf.TensorSpec(shape=(None,) * rank, dtype=dtype)
        # A callable object, not a lambda: TensorFlow counts traces per Python code object, so
        # one lambda shared by every model's function made the fifth model's first trace
        # print a "retracing" warning (chapters train several models).
        return tf.function(_InferenceCall(model), input_signature=[spec])

    @staticmethod
    def compiled_call(model, specs):
        import tensorflow as tf

        signature = [tf.TensorSpec(shape=(None,) * rank, dtype=dtype) for rank, dtype in specs]
        # A callable object per model, not a lambda (see compiled_forward).
        return tf.function(_InferenceCallMany(model), input_signature=signature)

    @staticmethod
    def fit_input(dataset):
        import tensorflow as tf

        first_x, first_y = dataset[0]
        passes = itertools.count()

        def batches():
            # One pass of tf.data is one epoch; every pass after the first draws new batches
            # first (Keras may stop a pass after the last batch without exhausting it).
            if next(passes):
                dataset.on_epoch_end()
            for index in range(len(dataset)):
                yield dataset[index]

        def spec(array):
            return tf.TensorSpec(shape=(None,) * np.ndim(array), dtype=np.asarray(array).dtype)

        # x may be one array or a tuple of arrays (a model with several inputs).
        x_spec = tuple(map(spec, first_x)) if isinstance(first_x, tuple) else spec(first_x)
        signature = (x_spec, spec(first_y))
        data = tf.data.Dataset.from_generator(batches, output_signature=signature)
        # Telling tf.data the number of batches lets Keras show progress and end epochs.
        return data.apply(tf.data.experimental.assert_cardinality(len(dataset))).prefetch(2)

    width_multiple = 1


class _Jax:
    label = "JAX"

    @staticmethod
    def gpus() -> list[str]:
        import jax

        return [d.device_kind for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]

    @staticmethod
    def version() -> str:
        import jax
        import jaxlib

        return f"JAX {jax.__version__} (jaxlib {jaxlib.__version__})"

    @staticmethod
    def gradients(fn, inputs):
        import jax
        import jax.numpy as jnp

        arrays = [jnp.asarray(x) for x in inputs]
        return jax.grad(lambda *xs: _check_scalar(fn(*xs)),
                        argnums=tuple(range(len(arrays))))(*arrays)

    @staticmethod
    def compiled_forward(model, rank, dtype):
        import jax
        import jax.numpy as jnp

        handle = weakref.ref(model)

        def run(trainable, non_trainable, x):
            outputs, _ = handle().stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        # The variables are arguments, not constants baked into the program: the compiled
        # function sees the weights the model has when it is called, after any training.
        jitted = jax.jit(run)

        def forward(x):
            x = jnp.asarray(x, dtype=dtype)
            if x.ndim != rank:
                raise ValueError(f"expected inputs of rank {rank}, got shape {x.shape}")
            live = handle()
            return jitted([v.value for v in live.trainable_variables],
                          [v.value for v in live.non_trainable_variables], x)

        return forward

    @staticmethod
    def compiled_call(model, specs):
        import jax
        import jax.numpy as jnp

        handle = weakref.ref(model)

        def run(trainable, non_trainable, xs):
            outputs, _ = handle().stateless_call(trainable, non_trainable, _model_inputs(xs),
                                                 training=False)
            return outputs

        jitted = jax.jit(run)

        def call(*xs):
            xs = [jnp.asarray(x, dtype=dtype) for x, (_, dtype) in zip(xs, specs, strict=True)]
            live = handle()
            return jitted([v.value for v in live.trainable_variables],
                          [v.value for v in live.non_trainable_variables], xs)

        return call

    @staticmethod
    def fit_input(dataset):
        return dataset

    # XLA compiles one program per input shape: rounding batch widths up to a multiple of 32
    # bounds the programs to about maxlen / 32 per batch size.
    width_multiple = 32


class _Torch:
    label = "PyTorch"

    @staticmethod
    def gpus() -> list[str]:
        import keras
        import torch

        device = keras.ops.convert_to_tensor(0.0).device  # where Keras puts new tensors
        if device.type == "cuda":
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if device.type == "mps":
            return ["Apple GPU (MPS)"]
        return []

    @staticmethod
    def version() -> str:
        import torch

        return f"PyTorch {torch.__version__}"

    @staticmethod
    def gradients(fn, inputs):
        import keras
        import torch

        tensors = [keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
                   for x in inputs]
        value = _check_scalar(fn(*tensors))
        return torch.autograd.grad(value, tensors, allow_unused=True)

    @staticmethod
    def compiled_forward(model, rank, dtype):
        import keras
        import torch

        handle = weakref.ref(model)

        # Keras runs PyTorch eagerly (jit_compile=False by default): nothing to trace; the
        # pass runs without building an autograd graph.
        def forward(x):
            x = keras.ops.convert_to_tensor(x, dtype=dtype)
            if x.ndim != rank:
                raise ValueError(f"expected inputs of rank {rank}, got shape {tuple(x.shape)}")
            with torch.no_grad():
                return handle()(x, training=False)

        return forward

    @staticmethod
    def compiled_call(model, specs):
        import keras
        import torch

        handle = weakref.ref(model)

        def call(*xs):
            xs = [keras.ops.convert_to_tensor(x, dtype=dtype)
                  for x, (_, dtype) in zip(xs, specs, strict=True)]
            with torch.no_grad():
                return handle()(_model_inputs(xs), training=False)

        return call

    @staticmethod
    def fit_input(dataset):
        return dataset

    width_multiple = 1


_IMPLEMENTATIONS = {"tensorflow": _TensorFlow, "jax": _Jax, "torch": _Torch}


def _active():
    return _IMPLEMENTATIONS[name()]


def _model_inputs(xs):
    """A model's inputs as Keras expects them: one tensor alone, several as a list."""
    xs = list(xs)
    return xs[0] if len(xs) == 1 else xs


def _check_scalar(value):
    import keras

    shape = tuple(keras.ops.shape(value))
    if shape not in ((), (1,)):
        raise ValueError(
            f"the function to differentiate must return a scalar, got shape {shape} "
            "(sum or average the losses first)"
        )
    return keras.ops.reshape(value, ())


def gpu_available() -> bool:
    """True when the active backend computes on a GPU (an NVIDIA one, or Apple's on PyTorch)."""
    return bool(_active().gpus())


def device_description() -> str:
    """Where the active backend computes: ``GPU: <names>`` or ``CPU (<n> cores, <arch>)``."""
    gpus = _active().gpus()
    return "GPU: " + ", ".join(gpus) if gpus else _cpu()


def versions() -> str:
    """The setup cell's versions line, e.g. ``TensorFlow 2.21.0, Keras 3.15.1``."""
    import keras

    return f"{_active().version()}, Keras {keras.__version__}"


def gradients(fn: Callable, inputs: Sequence) -> list[np.ndarray]:
    """The gradient of the scalar ``fn(*inputs)`` with respect to each of ``inputs``.

    ``inputs`` are arrays or tensors (float), each of any shape; ``fn`` takes them as
    backend tensors, computes with ``keras.ops`` or Keras layers, and returns a scalar (shape
    ``()`` or ``(1,)``): sum or average a batch of losses first. Returns one NumPy array per
    input, of the input's shape and dtype; an input the value does not depend on gets zeros.
    Layers called inside ``fn`` are constants here: only ``inputs`` are differentiated.

    Raises ``ValueError`` when ``fn`` returns more than one number.
    Backends: ``tf.GradientTape``, ``jax.grad``, ``torch.autograd.grad``.
    """
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a non-empty list or tuple of arrays or tensors")
    import keras

    grads = _active().gradients(fn, list(inputs))
    result = []
    for x, grad in zip(inputs, grads, strict=True):
        x = keras.ops.convert_to_numpy(x)
        grad = np.zeros_like(x) if grad is None else keras.ops.convert_to_numpy(grad)
        result.append(grad.astype(x.dtype, copy=False))
    return result


_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_forward(model, rank: int = 2, dtype: str = "int32") -> Callable:
    """``model(x, training=False)``, compiled once per model and input rank/dtype.

    The returned function takes ``x`` of ``rank`` dimensions, every one of any size (e.g.
    ``(batch, time)`` token ids, the default), and returns the model's outputs as backend
    tensors (``np.asarray`` converts them). It always uses the model's current weights.

    TensorFlow traces a ``tf.function`` once for the input signature ``(None,) * rank``
    (calling ``predict_on_batch`` on batches of new widths would retrace, with a warning).
    JAX compiles ``model.stateless_call`` with ``jax.jit``, one XLA program per input shape
    (round shapes with :func:`width_multiple` to bound their number). PyTorch runs eagerly
    under ``torch.no_grad()``. Functions are cached without keeping the model alive.
    """
    per_model = _FORWARD.setdefault(model, {})
    key = (name(), rank, dtype)
    if key not in per_model:
        per_model[key] = _active().compiled_forward(model, rank, dtype)
    return per_model[key]


def compiled_call(model, specs: Sequence[tuple[int, str]]) -> Callable:
    """``model([x_1, ..., x_n], training=False)`` for a model with several inputs, compiled once.

    ``specs`` gives each input's rank and dtype, e.g. ``[(2, "int32"), (2, "int32")]`` for an
    encoder–decoder's source and decoder input; every dimension may vary from call to call.
    The returned function takes the inputs as positional arguments and returns the model's
    outputs as backend tensors. TensorFlow traces one ``tf.function`` for the signature (a
    model called through ``predict_on_batch`` would be traced again for new shapes); JAX
    compiles ``stateless_call`` per input shape; PyTorch runs eagerly without autograd. Cached
    per model and ``specs``, without keeping the model alive.
    """
    specs = tuple((int(rank), str(dtype)) for rank, dtype in specs)
    if not specs:
        raise ValueError("specs must give the rank and dtype of at least one input")
    per_model = _FORWARD.setdefault(model, {})
    key = (name(), "call", specs)
    if key not in per_model:
        per_model[key] = _active().compiled_call(model, specs)
    return per_model[key]


def fit_input(dataset):
    """What to pass to ``model.fit`` for a ``keras.utils.PyDataset`` of varying batch shapes.

    ``dataset[i]`` is a pair ``(x_batch, y_batch)`` of NumPy arrays (``x_batch`` may be a
    tuple of arrays, for a model with several inputs) whose sizes may differ from batch to
    batch; ``dataset.on_epoch_end()`` draws the next epoch's batches. JAX and
    PyTorch take the PyDataset itself. On TensorFlow, Keras would infer a fixed input shape
    from the first two batches, so this wraps it in a ``tf.data.Dataset`` whose signature
    leaves every dimension open, with its cardinality set and two batches prefetched. Pass
    ``shuffle=False`` to ``fit``: the dataset shuffles itself.
    """
    return _active().fit_input(dataset)


def width_multiple() -> int:
    """What batch widths (time steps) are best rounded up to on the active backend.

    32 on JAX, which compiles one program per input shape (fewer distinct widths, fewer
    compilations); 1 (no rounding) on TensorFlow and PyTorch, which take any width at no
    extra cost. Rounding only adds padding columns, which masking hides.
    """
    return _active().width_multiple


def skip_graph_rewrites() -> bool:
    """Turn off Grappler, TensorFlow's graph optimizer, for the rest of this process.

    TensorFlow rewrites every function it traces (``tf.function``: Keras' training step, the
    compiled inference passes) before running it. For chapter 6's encoder–decoders on a CPU,
    with a recurrent loop on each side and a step per output character, the rewriting made
    both the first trace and every training step slower: with it off, one seed's training
    took about two thirds of the time, with identical results (measured on a 2-core CPU,
    TensorFlow 2.21). For chapter 5's review classifiers it made no measurable difference,
    so only chapter 6 calls this. It changes how the graph is executed, not what is computed.

    Affects functions traced after the call (call it before building and training models).
    Returns True on TensorFlow; on JAX and PyTorch, which have no Grappler, does nothing and
    returns False. Source: ``tf.config.optimizer.set_experimental_options``
    (``disable_meta_optimizer``).
    """
    if name() != "tensorflow":
        return False
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    return True
