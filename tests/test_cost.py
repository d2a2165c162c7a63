"""Cost measurement: interleaved timing, the crossover, one layer measured in a child process."""

import time

import pytest

from attention_course import cost


def test_time_interleaved_orders_and_medians():
    calls = []
    timings = cost.time_interleaved(
        {"fast": lambda: calls.append("fast"),
         "slow": lambda: (calls.append("slow"), time.sleep(0.01))},
        repeats=3, warmup=1)
    assert calls == ["fast", "slow"] + ["fast", "slow"] * 3  # warm-up, then round-robin
    assert timings["slow"] >= 0.009 > timings["fast"]
    with pytest.raises(ValueError, match="at least one function"):
        cost.time_interleaved({})
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        cost.time_interleaved({"f": lambda: None}, repeats=0)


def test_crossover():
    lengths = [64, 128, 256, 512]
    assert cost.crossover(lengths, [1, 2, 5, 9], [3, 3, 3, 3]) == 256
    assert cost.crossover(lengths, [5, 2, 5, 9], [3, 3, 3, 3]) == 256  # must stay above
    assert cost.crossover(lengths, [5, 6, 7, 8], [1, 1, 1, 1]) == 64
    assert cost.crossover(lengths, [1, 1, 5, 1], [3, 3, 3, 3]) is None
    with pytest.raises(ValueError, match="equally long"):
        cost.crossover(lengths, [1, 2], [1, 2])


def test_peak_memory_is_read():
    peak = cost.peak_memory_mb()
    assert peak is None or peak > 10  # a Python process with NumPy holds more than 10 MiB


def test_peak_memory_reset_forgets_an_earlier_peak():
    import numpy as np

    big = np.ones(2**25)  # 256 MiB, touched
    del big
    if not cost.reset_peak_memory():
        pytest.skip("the peak cannot be reset on this system")
    now = cost.current_memory_mb()
    assert now is not None and cost.peak_memory_mb() < now + 64


def test_measure_layer_in_process_and_in_a_child():
    here = cost.measure_layer("self_attention", [4, 16], batch_size=2, d_model=8,
                              num_heads=2, repeats=2)
    assert here["lengths"] == [4, 16] and len(here["seconds"]) == 2
    assert all(s > 0 for s in here["seconds"])
    assert here["parameters"] == 4 * (8 * 8 + 8)  # Q, K, V and output projections
    child = cost.measure_in_subprocess("gru", [4, 8], batch_size=2, d_model=8, repeats=1)
    assert child["layer"] == "gru" and len(child["memory_mb"]) == 2
    assert all(m is None or m >= 0 for m in child["memory_mb"])


def test_measure_errors():
    with pytest.raises(ValueError, match="layer must be one of"):
        cost.measure_layer("lstm", [4])
    with pytest.raises(ValueError, match="strictly increasing"):
        cost.measure_layer("gru", [8, 4])
    with pytest.raises(ValueError, match="multiple of num_heads"):
        cost.measure_layer("self_attention", [4], d_model=6, num_heads=4)


def test_crossover_words():
    lengths = [64, 128, 256]
    assert cost.crossover_words(lengths, [1, 5, 9], [3, 3, 3]) == (
        "self-attention needed more time than the GRU from T = 128 on (and less below)")
    assert "at every length measured, from T = 64" in cost.crossover_words(
        lengths, [4, 5, 9], [3, 3, 3])
    assert "no more memory than the GRU at the longest length measured, T = 256" in (
        cost.crossover_words(lengths, [1, 5, 2], [3, 3, 3], quantity="memory"))
