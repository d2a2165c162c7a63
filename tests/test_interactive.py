"""The interactive figures' HTML: first state from the package, embedded data, errors.

What the figures do in a browser is tested in tests/book/test_browser.py.
"""

import json

import keras
import numpy as np
import pytest
from bs4 import BeautifulSoup

from attention_course import interactive
from attention_course.attention import masked_softmax

SCORES = np.array([0.5, 2.0, 1.0, 0.2, -0.5])
VALUES = np.array([[0.0, 0.0], [3.0, 0.5], [2.5, 2.5], [0.5, 3.0], [-1.0, 1.5]])


def parse(figure):
    soup = BeautifulSoup(figure._repr_html_(), "html.parser")
    root = soup.select_one(".ax-widget")
    data = json.loads(root.select_one("script.ax-data").string)
    return root, data


def expected_weights(scores, mask=None, tau=1.0):
    return keras.ops.convert_to_numpy(masked_softmax(np.asarray(scores) / tau, mask))


def test_softmax_explorer_first_state_is_masked_softmax():
    mask = np.array([True, False, True, True, True])
    figure = interactive.softmax_explorer(SCORES, values=VALUES, mask=mask, temperature=2.0,
                                          labels=[f"v{j}" for j in range(1, 6)])
    root, data = parse(figure)
    assert root["data-ax"] == "softmax" and root["id"] == figure.element_id
    tau = 10 ** round(np.log10(2.0), 2)
    want = expected_weights(SCORES, mask, tau)
    shown = [float(span["data-weight"]) for span in root.select(".ax-weight")]
    np.testing.assert_allclose(shown, want, rtol=0, atol=1e-15)
    assert shown[1] == 0.0
    assert [s.text for s in root.select(".ax-weight")] == [f"{w:.3f}" for w in want]
    assert data["scores"] == SCORES.tolist() and data["mask"] == mask.tolist()
    context = json.loads(root.select_one(".ax-context")["data-value"])
    np.testing.assert_allclose(context, want @ VALUES, atol=1e-12)
    entropy = float(root.select_one(".ax-entropy")["data-value"])
    p = want[want > 0]
    assert entropy == pytest.approx(-(p * np.log(p)).sum(), abs=1e-12)
    assert float(root.select_one(".ax-entropy-max")["data-value"]) == pytest.approx(np.log(4))
    # Keys start ticked as the mask says; controls wait, disabled, for the page's script.
    boxes = root.select("input.ax-mask")
    assert [b.has_attr("checked") for b in boxes] == mask.tolist()
    assert all(control.has_attr("disabled") for control in root.select("input, button"))
    assert all(node.has_attr("hidden") for node in root.select("[data-ax-live]"))
    assert len(root.select("[data-ax-live]")) == 5 + 2  # score sliders, the hint, reset
    assert root.select_one("svg.ax-plane") is not None
    assert root.select_one(".ax-nothing").has_attr("hidden")


def test_softmax_explorer_fully_masked_row_is_all_zeros():
    root, _ = parse(interactive.softmax_explorer(SCORES, values=VALUES, mask=np.zeros(5, bool)))
    assert [float(s["data-weight"]) for s in root.select(".ax-weight")] == [0.0] * 5
    assert float(root.select_one(".ax-sum")["data-value"]) == 0.0
    assert float(root.select_one(".ax-entropy")["data-value"]) == 0.0
    assert json.loads(root.select_one(".ax-context")["data-value"]) == [0.0, 0.0]
    assert not root.select_one(".ax-nothing").has_attr("hidden")


def test_softmax_explorer_without_values_has_no_context_or_picture():
    root, data = parse(interactive.softmax_explorer([1.0, 2.0, 3.0]))
    assert data["values"] is None
    assert root.select_one(".ax-context") is None and root.select_one("svg") is None
    assert [th.text for th in root.select("tbody th")] == ["key 1", "key 2", "key 3"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(scores=[1.0]), "2 to 16 keys"),
    (dict(scores=np.zeros(17)), "2 to 16 keys"),
    (dict(scores=np.zeros((2, 3))), r"scores must be 1-D, got shape \(2, 3\)"),
    (dict(scores=[1.0, np.nan]), "scores must be finite"),
    (dict(scores=[1.0, 2.0], values=np.zeros((3, 2))), r"values must have shape \(n, d_v\)"),
    (dict(scores=[1.0, 2.0], mask=[True]), r"mask must be boolean of shape \(2,\)"),
    (dict(scores=[1.0, 2.0], mask=[0.5, 1.0]), "mask must be boolean"),
    (dict(scores=[1.0, 2.0], labels=["a"]), "need one label per key: got 1 for 2 keys"),
    (dict(scores=[1.0, 2.0], temperature=0.0), r"temperature must be a number in \[0.01, 100"),
    (dict(scores=["a", "b"]), "scores must be numeric"),
])
def test_softmax_explorer_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        interactive.softmax_explorer(**kwargs)


def alignment_weights(heads=2, n_out=4, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    causal = np.tril(np.ones((n_out, n_in), bool))
    causal[-1] = False  # a query with nothing to attend to
    return keras.ops.convert_to_numpy(
        masked_softmax(rng.normal(size=(heads, n_out, n_in)), causal))


def test_alignment_explorer_embeds_rounded_weights_and_shows_the_first_row():
    weights = alignment_weights()
    figure = interactive.alignment_explorer(
        weights, ["a", "b", "c", "d"], ["w1", "w2", "w3", "w4", "w5"],
        head_names=["h1", "h2"], decimals=6)
    root, data = parse(figure)
    assert data["heads"] == ["h1", "h2"] and data["inputs"] == ["w1", "w2", "w3", "w4", "w5"]
    np.testing.assert_allclose(data["weights"], weights, rtol=0, atol=5e-7)
    tokens = root.select(".ax-in")
    assert [t.text for t in tokens] == data["inputs"]
    np.testing.assert_allclose([float(t["data-weight"]) for t in tokens], weights[0, 0],
                               atol=5e-7)
    assert [r["value"] for r in root.select("input.ax-head")] == ["0", "1"]
    assert [t.text for t in root.select(".ax-out")] == ["a", "b", "c", "d"]
    grid = root.select("table.ax-grid tbody tr")
    assert len(grid) == 4 and all(len(tr.select("td")) == 5 for tr in grid)
    np.testing.assert_allclose([float(td["data-weight"]) for td in grid[3].select("td")],
                               np.zeros(5))
    assert "“a” puts its largest weight, 1.000000, on “w1”" in root.select_one(
        ".ax-readout").text


def test_alignment_explorer_one_row_is_a_review_without_grid():
    weights = np.array([[0.1, 0.6, 0.3]])
    root, data = parse(interactive.alignment_explorer(weights, ["query"], ["good", "<b>", "&"]))
    assert data["heads"] == ["head 1"] and root.select_one(".ax-heads") is None
    assert root.select_one(".ax-outputs") is None and root.select_one("table") is None
    # Tokens are text, not markup, in the page and in the embedded JSON.
    assert [t.text for t in root.select(".ax-in")] == ["good", "<b>", "&"]
    raw = interactive.alignment_explorer(weights, ["q"], ["</script><script>x()", "a", "b"])
    assert "</script><script>" not in raw.html
    assert parse(raw)[1]["inputs"][0] == "</script><script>x()"
    shades = [t["style"] for t in root.select(".ax-in")]
    assert [s.split(",")[-1] for s in shades] == ["0.000)", "1.000)", "0.400)"]
    assert "The largest weight, 0.60000 (1.80 × the uniform 1/3), is on “<b>”" in root.select_one(
        ".ax-readout").text


def test_alignment_explorer_ids_are_unique():
    weights = np.array([[0.5, 0.5]])
    first = interactive.alignment_explorer(weights, ["q"], ["a", "b"])
    second = interactive.alignment_explorer(weights, ["q"], ["a", "b"])
    assert first.element_id != second.element_id


@pytest.mark.parametrize("weights, outputs, inputs, message", [
    (np.ones(3) / 3, ["q"], list("abc"), "weights must be 2-D or 3-D"),
    (np.ones((1, 3)) / 3, ["q", "r"], list("abc"), "need 1 output tokens and 3 input tokens"),
    (np.array([[0.5, 0.6]]), ["q"], list("ab"), "head 0, row 0 sums to 1.1"),
    (np.array([[2.0, -1.0]]), ["q"], list("ab"), "non-negative"),
    (np.array([[np.nan, 1.0]]), ["q"], list("ab"), "finite"),
    (np.full((1, 2001), 1 / 2001), ["q"], ["w"] * 2001, "over the page's caps"),
])
def test_alignment_explorer_rejects_bad_input(weights, outputs, inputs, message):
    with pytest.raises(ValueError, match=message):
        interactive.alignment_explorer(weights, outputs, inputs)


def test_alignment_explorer_head_names_must_match():
    with pytest.raises(ValueError, match="need one name per head: got 1 for 2 heads"):
        interactive.alignment_explorer(alignment_weights(), list("abcd"), list("vwxyz"),
                                       head_names=["only one"])


def test_figures_are_marked_for_the_script_and_kept_from_mathjax():
    figure = interactive.softmax_explorer([0.0, 1.0], title="Try it")
    root, _ = parse(figure)
    assert {"ax-widget", "tex2jax_ignore", "mathjax_ignore"} <= set(root["class"])
    assert root["aria-labelledby"] == f"{figure.element_id}-title"
    assert repr(figure).startswith("<InteractiveFigure softmax")
