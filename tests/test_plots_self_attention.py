"""The figures of chapter 7: attention maps per head, cost against sequence length."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from attention_course import plots


def test_attention_heads_one_panel_per_head():
    weights = np.random.default_rng(0).random((3, 5, 5))
    fig = plots.plot_attention_heads(weights, list("abcde"), max_tokens=4)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert [ax.get_title() for ax in panels] == ["head 1", "head 2", "head 3"]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == list("abcd")
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(heads, T, T\)"):
        plots.plot_attention_heads(np.zeros((2, 3, 4)), list("abc"))
    with pytest.raises(ValueError, match="2 tokens for weights over 3 positions"):
        plots.plot_attention_heads(np.zeros((2, 3, 3)), list("ab"))


def test_cost_scaling_two_panels_with_reference():
    run = {"lengths": [8, 16, 32], "seconds": [0.001, 0.002, 0.004],
           "memory_mb": [1.0, None, 3.0]}
    fig = plots.plot_cost_scaling({"a": run, "b": run}, reference_mb=("scores", [1, 2, 4]))
    left, right = fig.axes
    assert left.get_xscale() == "log" and right.get_yscale() == "log"
    assert [line.get_label() for line in right.get_lines()] == ["a", "b", "scores"]
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [1, 2, 4])  # milliseconds
    plt.close(fig)
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.plot_cost_scaling({})
