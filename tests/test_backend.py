"""attention_course.backend on the active Keras backend, and (from the default backend) on
every other installed backend, each in a subprocess with KERAS_BACKEND set."""

import gc
import importlib.util
import os
import subprocess
import sys
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest

from attention_course import backend, batching, models

ACTIVE = keras.backend.backend()
LIBRARY = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def test_name_is_the_active_keras_backend(monkeypatch):
    assert backend.name() == ACTIVE == os.environ.get("KERAS_BACKEND", "tensorflow")
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(RuntimeError, match=r"backend 'numpy' is not supported.*jax, torch"):
        backend.name()


def test_device_and_versions_name_the_backend():
    label = {"tensorflow": "TensorFlow ", "jax": "JAX ", "torch": "PyTorch "}[ACTIVE]
    line = backend.versions()
    assert line.startswith(label) and line.endswith(f"Keras {keras.__version__}")
    device = backend.device_description()
    if backend.gpu_available():
        assert device.startswith("GPU: ")
    else:
        assert device.startswith("CPU (") and f"{os.cpu_count()} cores" in device


def test_gradient_of_softmax_matches_its_jacobian():
    # d/ds sum_i softmax(s)_i r_i = a * (r - a.r), with a = softmax(s).
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 5)).astype("float32")
    r = np.arange(5, dtype="float32")
    (grad,) = backend.gradients(
        lambda s: keras.ops.sum(keras.ops.multiply(keras.ops.softmax(s, axis=-1), r)),
        [scores])
    a = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    expected = a * (r - (a * r).sum(axis=-1, keepdims=True))
    assert grad.shape == scores.shape and grad.dtype == np.float32
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_gradients_of_several_inputs_through_a_layer():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(4, 3)).astype("float32")
    layer.set_weights([kernel, np.zeros(3, "float32")])
    x = rng.normal(size=(2, 4)).astype("float32")
    c = np.float32(3.0)
    unused = np.ones((2,), "float32")
    gx, gc_, gu = backend.gradients(lambda x, c, u: c * keras.ops.sum(layer(x)),
                                    [x, c, unused])
    np.testing.assert_allclose(gx, np.tile(3.0 * kernel.sum(axis=1), (2, 1)), rtol=1e-5)
    np.testing.assert_allclose(gc_, (x @ kernel).sum(), rtol=1e-5)
    np.testing.assert_array_equal(gu, np.zeros(2))


def test_gradients_need_a_scalar():
    with pytest.raises(ValueError, match=r"must return a scalar, got shape \(3,\)"):
        backend.gradients(lambda x: x * 2.0, [np.ones(3, "float32")])
    with pytest.raises(ValueError, match="non-empty list"):
        backend.gradients(lambda x: x, [])


def _classifier():
    keras.utils.set_random_seed(0)
    return models.build_review_classifier("gru_attention", num_words=50,
                                          embedding_dim=4, units=3)


def test_compiled_forward_matches_the_model_at_any_width_and_current_weights():
    model = _classifier()
    forward = backend.compiled_forward(model)
    assert backend.compiled_forward(model) is forward, "one compiled function per model"
    rng = np.random.default_rng(2)
    for shape in [(3, 7), (5, 12)]:
        x = rng.integers(1, 50, size=shape).astype("int32")
        expected = keras.ops.convert_to_numpy(model(x, training=False))
        got = keras.ops.convert_to_numpy(forward(x))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # New weights (training, say) are seen by the same compiled function.
    model.set_weights([w * 0.5 for w in model.get_weights()])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(forward(x)),
                               keras.ops.convert_to_numpy(model(x, training=False)),
                               rtol=1e-5, atol=1e-6)


def test_compiled_forward_does_not_keep_the_model_alive():
    model = _classifier()
    backend.compiled_forward(model)(np.ones((1, 3), "int32"))
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_compiled_call_runs_a_model_with_several_inputs_at_any_shape():
    a = keras.Input(shape=(None,), dtype="int32")
    b = keras.Input(shape=(None, 3))
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 3)(a))
    model = keras.Model([a, b], keras.layers.Dense(2)(pooled + keras.ops.mean(b, axis=1)))
    call = backend.compiled_call(model, [(2, "int32"), (3, "float32")])
    assert backend.compiled_call(model, [(2, "int32"), (3, "float32")]) is call
    rng = np.random.default_rng(5)
    for n, t in [(2, 4), (5, 9)]:
        x = rng.integers(1, 50, size=(n, t)).astype("int32")
        z = rng.normal(size=(n, t + 1, 3)).astype("float32")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(call(x, z)),
                                   keras.ops.convert_to_numpy(model([x, z])),
                                   rtol=1e-5, atol=1e-6)
    classifier = _classifier()  # compiled functions do not keep their model alive
    single = backend.compiled_call(classifier, [(2, "int32")])
    assert keras.ops.convert_to_numpy(single(np.ones((2, 5), "int32"))).shape == (2, 1)
    with pytest.raises(ValueError, match="at least one input"):
        backend.compiled_call(model, [])


def test_fit_input_hands_fit_new_batches_each_epoch():
    rng = np.random.default_rng(3)
    x = np.zeros((40, 12), dtype="int32")
    for i, n in enumerate(rng.integers(1, 13, size=40)):
        x[i, :n] = rng.integers(1, 50, size=n)
    y = rng.integers(0, 2, size=40)
    buckets = batching.LengthBuckets(x, y, batch_size=8, seed=0)
    data = backend.fit_input(buckets)
    if ACTIVE == "tensorflow":
        passes = [list(data.as_numpy_iterator()) for _ in range(2)]
    else:
        assert data is buckets
        passes = []
        for _ in range(2):
            passes.append([buckets[i] for i in range(len(buckets))])
            buckets.on_epoch_end()
    assert len(passes[0]) == len(passes[1]) == 5
    first_ids = [[tuple(xb[:, 0]) for xb, _ in batches] for batches in passes]
    assert first_ids[0] != first_ids[1], "each epoch should draw new batches"
    multiple = backend.width_multiple()
    widths = [xb.shape[1] for xb, _ in passes[0] + passes[1]]
    assert all(t % multiple == 0 or t == 12 for t in widths), widths


def test_fit_draws_new_batches_each_epoch():
    rng = np.random.default_rng(4)
    x = rng.integers(1, 50, size=(48, 6)).astype("int32")
    buckets = batching.LengthBuckets(x, rng.integers(0, 2, size=48), batch_size=8, seed=0)
    first = [b.copy() for b in buckets.batches]
    model = _classifier()
    model.fit(backend.fit_input(buckets), epochs=2, shuffle=False, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(first, buckets.batches, strict=True))


def test_width_multiple_rounds_only_where_shapes_compile():
    assert backend.width_multiple() == (32 if ACTIVE == "jax" else 1)


OTHERS = [b for b in backend.BACKENDS if b != ACTIVE]


@pytest.mark.skipif(ACTIVE != "tensorflow", reason="run from the default backend only")
@pytest.mark.parametrize("other", OTHERS)
def test_backend_tests_pass_on_the_other_backends(other):
    if importlib.util.find_spec(LIBRARY[other]) is None:
        pytest.skip(f"{LIBRARY[other]} is not installed")
    env = {**os.environ, "KERAS_BACKEND": other}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "tests/test_batching.py", "-k", "not other_backends"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_skip_graph_rewrites_turns_grappler_off_on_tensorflow_only():
    import keras

    if keras.backend.backend() != "tensorflow":
        assert backend.skip_graph_rewrites() is False
        return
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options()
    try:
        assert backend.skip_graph_rewrites() is True
        assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]
    finally:  # the rest of the test session keeps TensorFlow's default
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": before.get("disable_meta_optimizer", False)})
