"""Measured cost of sequence layers as the sequence grows: time and peak memory.

Self-attention computes a (T × T) score matrix per head: its time and memory grow as T², but
all positions are computed at once. A recurrent layer keeps one state per position (memory
∝ T) but must take T steps one after another. Which is cheaper at a given length is a
measurement on a given machine, not a formula; this module takes it.

- :func:`time_interleaved` times several functions in alternation (round-robin) and reports
  each one's median, so that a change in machine load hits all of them alike.
- :func:`measure_layer` times one layer's forward pass (inference, the compiled
  ``predict_on_batch`` path) at each length and measures its **peak memory**: the process's
  peak resident memory during the calls at that length, above its resident memory just
  before them. On Linux the peak is reset before each length (``/proc/self/clear_refs``) and
  read from ``VmHWM``; elsewhere it is the running peak (``ru_maxrss``), measured from short
  to long lengths.
- :func:`measure_in_subprocess` runs :func:`measure_layer` in a fresh Python process
  (``python -m attention_course.cost``), so that what the calling process did before (training
  a model, say) shares neither its memory nor its thread pools with the measurement.
- :func:`crossover` finds the first length where one measurement exceeds another.

Memory is measured on Linux and macOS; elsewhere the memory entries are None. (``ru_maxrss``
alone would not do in a child process on Linux: it starts at the parent's peak.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "LAYERS",
    "crossover",
    "crossover_words",
    "measure_in_subprocess",
    "measure_layer",
    "current_memory_mb",
    "peak_memory_mb",
    "reset_peak_memory",
    "time_interleaved",
]

LAYERS = ("self_attention", "gru")
"""What :func:`measure_layer` can measure: our multi-head self-attention (projections,
scores, softmax, weighted sum, output projection) or a Keras GRU returning every state, both
(batch, T, d) → (batch, T, d)."""


def time_interleaved(functions: dict[str, Callable[[], object]], repeats: int = 10,
                     warmup: int = 1) -> dict[str, float]:
    """Median wall-clock seconds of each zero-argument function, run in alternation.

    Each function first runs ``warmup`` times untimed (tracing, compiling, caches); then
    ``repeats`` rounds run every function once each, in order. Returns ``{name: median
    seconds}``. Raises ``ValueError`` for no functions or ``repeats`` < 1.
    """
    if not functions:
        raise ValueError("time_interleaved needs at least one function")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    for function in functions.values():
        for _ in range(warmup):
            function()
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def _status_mb(field: str) -> float | None:
    """A memory field of ``/proc/self/status`` (Linux), in MiB, or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def reset_peak_memory() -> bool:
    """Reset this process's peak resident memory to its current size (Linux ≥ 4.0).

    Returns False where that is not possible; :func:`peak_memory_mb` is then a running peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def current_memory_mb() -> float | None:
    """This process's resident memory now, in MiB (Linux; None elsewhere)."""
    return _status_mb("VmRSS")


def peak_memory_mb() -> float | None:
    """This process's peak resident memory, in MiB, since it started or since
    :func:`reset_peak_memory` (None where it cannot be read)."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _check_lengths(lengths) -> list[int]:
    lengths = [int(t) for t in lengths]
    if not lengths or min(lengths) < 1 or lengths != sorted(set(lengths)):
        raise ValueError(f"lengths must be positive and strictly increasing, got {lengths}")
    return lengths


def _layer_model(layer: str, d_model: int, num_heads: int):
    import keras

    from attention_course.multi_head import MultiHeadAttention

    inputs = keras.Input(shape=(None, d_model))
    if layer == "self_attention":
        outputs = MultiHeadAttention(num_heads, d_model // num_heads)(inputs, inputs)
    else:
        outputs = keras.layers.GRU(d_model, return_sequences=True)(inputs)
    return keras.Model(inputs, outputs)


def measure_layer(layer: str, lengths: Sequence[int], batch_size: int = 8,
                  d_model: int = 32, num_heads: int = 2, repeats: int = 5,
                  seed: int = 0) -> dict:
    """Forward-pass time and peak memory of one layer at each sequence length.

    ``layer`` is one of :data:`LAYERS`; inputs are random float32 (batch_size, T, d_model).
    For each T (strictly increasing): one untimed call, then the median of ``repeats`` timed
    ``predict_on_batch`` calls, then the peak resident memory of those calls.

    Returns a JSON-ready dict: ``layer``, ``lengths``, ``seconds`` (median per call),
    ``memory_mb`` (peak resident memory during the calls at that length above the resident
    memory before them, MiB; where the peak cannot be reset, above the peak after a warm-up
    at T = 2; None where unmeasurable), ``batch_size``, ``d_model``, ``num_heads``,
    ``parameters``.
    Best run in a fresh process (:func:`measure_in_subprocess`).
    """
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    lengths = _check_lengths(lengths)
    if d_model % num_heads:
        raise ValueError(f"d_model = {d_model} must be a multiple of num_heads = {num_heads}")
    rng = np.random.default_rng(seed)
    model = _layer_model(layer, d_model, num_heads)
    model.predict_on_batch(rng.normal(size=(batch_size, 2, d_model)).astype("float32"))
    running_peak = not reset_peak_memory()
    baseline = peak_memory_mb()
    seconds, memory = [], []
    for length in lengths:
        x = rng.normal(size=(batch_size, length, d_model)).astype("float32")
        if not running_peak and reset_peak_memory():
            baseline = current_memory_mb()
        timing = time_interleaved({"call": lambda x=x: model.predict_on_batch(x)},
                                  repeats=repeats)
        seconds.append(timing["call"])
        peak = peak_memory_mb()
        memory.append(None if peak is None or baseline is None
                      else max(peak - baseline, 0.0))
    return {"layer": layer, "lengths": lengths, "seconds": seconds, "memory_mb": memory,
            "batch_size": batch_size, "d_model": d_model, "num_heads": num_heads,
            "parameters": int(model.count_params())}


def measure_in_subprocess(layer: str, lengths: Sequence[int], batch_size: int = 8,
                          d_model: int = 32, num_heads: int = 2, repeats: int = 5,
                          timeout: float = 600) -> dict:
    """:func:`measure_layer` in a fresh Python process; same arguments and result.

    The child inherits the environment (the Keras backend, thread settings). Raises
    ``RuntimeError`` with the end of the child's error output if it fails.
    """
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    lengths = _check_lengths(lengths)
    command = [sys.executable, "-m", "attention_course.cost", layer,
               "--lengths", *map(str, lengths), "--batch-size", str(batch_size),
               "--d-model", str(d_model), "--num-heads", str(num_heads),
               "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {layer} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def crossover(lengths: Sequence[int], a: Sequence[float], b: Sequence[float]) -> int | None:
    """The first length from which ``a`` exceeds ``b`` at every longer length, or None.

    ``lengths`` increase; ``a`` and ``b`` are measurements at those lengths (e.g. seconds of
    self-attention and of a GRU). None when ``a`` does not stay above ``b`` up to the
    longest length (including when it never exceeds it).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (len(lengths) == len(a) == len(b)) or len(a) == 0:
        raise ValueError(
            f"lengths, a and b must be non-empty and equally long, got {len(lengths)}, "
            f"{len(a)} and {len(b)}"
        )
    above = a > b
    if not above[-1]:
        return None
    start = len(above) - int(np.argmin(above[::-1])) if not above.all() else 0
    return int(lengths[start])


def crossover_words(lengths: Sequence[int], a: Sequence[float], b: Sequence[float],
                    quantity: str = "time", subject: str = "self-attention",
                    other: str = "the GRU") -> str:
    """A sentence fragment saying where ``a`` starts to exceed ``b``, computed by :func:`crossover`.

    E.g. ``"self-attention needed more time than the GRU from T = 512 on (and less below)"``,
    or that it did at every length, or at none up to the longest measured.
    """
    length = crossover(lengths, a, b)
    if length is None:  # not above at the longest length
        return (f"{subject} needed no more {quantity} than {other} at the longest length "
                f"measured, T = {lengths[-1]}")
    if length == lengths[0]:
        return (f"{subject} needed more {quantity} than {other} at every length measured, "
                f"from T = {length}")
    return f"{subject} needed more {quantity} than {other} from T = {length} on (and less below)"


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure one layer's cost as T grows; "
                                                 "prints one line of JSON.")
    parser.add_argument("layer", choices=LAYERS)
    parser.add_argument("--lengths", type=int, nargs="+", required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure_layer(args.layer, args.lengths, args.batch_size, args.d_model,
                           args.num_heads, args.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
