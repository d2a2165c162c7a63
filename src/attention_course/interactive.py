"""Interactive attention figures for the book's HTML pages: written here, run in the browser.

A chapter cell calls one function and leaves its result as the cell's output:

- :func:`softmax_explorer` (chapter 4): one query's scores, a temperature slider and a mask
  check box per key; the weights (bars), their entropy and the context vector follow live.
- :func:`alignment_explorer` (chapters 5, 6, 7): an (outputs × inputs) attention matrix, one
  per head; choosing an output token (hover, tap, or the arrow keys) shades the input tokens by
  that output's weights, hovering an input token reads out its weight, and a heat map shows the
  whole matrix.

Each returns an :class:`InteractiveFigure`, whose ``_repr_html_`` is the figure: HTML that
already shows the figure's first state (computed here, with :mod:`attention_course.attention`)
plus the numbers the page needs, embedded as JSON. The book serves
``_static/attention-explorer.js`` and ``_static/attention-explorer.css`` on every page (Jupyter
Book includes every ``.js`` and ``.css`` file of ``_static/``); the script finds the figures
and makes them interactive. Nothing is fetched from outside the site. Without the script (a
notebook in Jupyter or Colab, a reader without JavaScript, print) the first state stays as a
static figure; the book's matplotlib figures stay next to it for print.

The script's softmax is :func:`attention_course.attention.masked_softmax`, re-written in
JavaScript (maximum subtracted, masked positions exactly 0, a row with nothing to attend to all
zeros); ``tests/book/test_browser.py`` moves the controls in Chromium and compares what the page
shows with this package's numbers.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["InteractiveFigure", "alignment_explorer", "softmax_explorer"]

MAX_KEYS = 16
"""Most keys a :func:`softmax_explorer` shows (one row of controls each)."""
MAX_VALUE_DIM = 8
"""Longest value vectors a :func:`softmax_explorer` shows."""
TEMPERATURE_RANGE = (0.01, 100.0)
"""The temperature slider's ends (it moves in steps of 0.01 in log10 τ)."""
MAX_HEADS = 16
MAX_OUTPUTS = 200
MAX_INPUTS = 2_000
MAX_CELLS = 60_000
"""Caps on :func:`alignment_explorer`'s matrices (heads × outputs × inputs ≤ MAX_CELLS), which
keep a page's embedded numbers to a few hundred kilobytes at most."""
MAX_GRID = 60
"""The heat map is drawn when there are 2 to MAX_GRID outputs and at most MAX_GRID inputs."""
STRONG_SHADE = 0.55
"""Shades above this get dark text (light text on a strong colour would be hard to read)."""

# Inline styles: the stylesheet's colours (which follow the theme's dark mode) when it is
# there, plain ones when it is not (a notebook in Jupyter or Colab), so the first state reads.
BAR_STYLE = ("display:inline-block;width:9em;height:0.8em;vertical-align:middle;"
             "border:1px solid var(--ax-border,#ccc);")
BAR_FILL_STYLE = "display:block;height:100%;background:var(--ax-bar,#4c72b0);"

ACCENT = "221,132,82"
"""The attention colour, chapter 5's ``plots.HIGHLIGHT_RGB``."""

_counter = itertools.count()


@dataclass(frozen=True)
class InteractiveFigure:
    """An interactive figure: its HTML, shown by Jupyter and the book as the cell's output.

    ``kind`` is ``"softmax"`` or ``"alignment"``, ``element_id`` the ``id`` of its outer
    ``<div>`` (unique within a kernel session), ``data`` the numbers embedded for the script.
    """

    kind: str
    element_id: str
    html: str
    data: dict

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<InteractiveFigure {self.kind} #{self.element_id}: {len(self.html):,} bytes>"


# -- shared helpers --------------------------------------------------------------------------


def _element_id(kind: str, data: dict) -> str:
    """Deterministic and unique within the session: a running number and the data's hash."""
    digest = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]
    return f"ax-{kind}-{next(_counter)}-{digest}"


def _json_for_script(data: dict) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _num(x) -> str:
    """A float's shortest round-trip text (``repr``), for data attributes."""
    return repr(float(x))


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fixed(x: float, digits: int) -> str:
    """``f"{x:.{digits}f}"`` without "-0.000" (as the script's ``fixed``)."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_temperature(tau: float) -> str:
    """The temperature's label, as the script formats it."""
    return f"{tau:.3f}" if tau < 0.1 else f"{tau:.2f}" if tau < 10 else f"{tau:.1f}"


def _labels(labels, n: int, default: str, what: str, per: str) -> list[str]:
    if labels is None:
        return [default.format(j + 1) for j in range(n)]
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"need one {what} per {per}: got {len(labels)} for {n} {per}s")
    return labels


def _finite_array(name: str, values, ndim: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}") from err
    if array.ndim not in ndim:
        dims = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {dims}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def _hint(text: str) -> str:
    return f'<p class="ax-hint" data-ax-live hidden>{_e(text)}</p>'


def _title(element_id: str, title: str | None) -> str:
    return f'<p class="ax-title" id="{element_id}-title">{_e(title)}</p>' if title else ""


def _root(kind: str, element_id: str, title: str | None, body: str, data: dict) -> str:
    label = (f'aria-labelledby="{element_id}-title"' if title
             else f'aria-label="interactive {kind} figure"')
    return (
        f'<div class="ax-widget ax-{kind} tex2jax_ignore mathjax_ignore" data-ax="{kind}" '
        f'id="{element_id}" role="group" {label}>'
        f"{_title(element_id, title)}{body}"
        f'<script type="application/json" class="ax-data">{_json_for_script(data)}</script>'
        "</div>"
    )


# -- chapter 4: scores → weights → context ----------------------------------------------------


def softmax_explorer(scores, *, values=None, mask=None, labels=None, temperature: float = 1.0,
                     title: str | None = None, decimals: int = 4,
                     digits: int = 3) -> InteractiveFigure:
    """One query's scores, with a temperature slider and a mask, for the reader to change.

    The reader drags or types each score, moves the temperature τ (log scale, 0.01 to 100)
    and ticks off keys to mask them; the weights ``masked_softmax(scores / τ, mask)`` (bars),
    their entropy −Σ p log p (nats) and the context vector Σ_j p_j v_j update as they do.
    Masked keys get weight exactly 0; with every key masked the weights and the context vector
    are all zeros. A reset button returns to the values given here.

    Args:
        scores: shape (n,), finite, 2 ≤ n ≤ :data:`MAX_KEYS`: one query's scores for n keys,
            rounded to ``decimals`` places (the page starts from the rounded scores).
        values: optional shape (n, d_v), finite, d_v ≤ :data:`MAX_VALUE_DIM`: one value
            vector per key, for the context vector. With d_v = 2 the figure also draws the
            values and the context vector in the plane (as chapter 4's context figure).
        mask: optional shape (n,), boolean, **True = attend** (the Keras convention); default
            all True.
        labels: optional n names of the keys; default "key 1", ….
        temperature: the starting τ, within :data:`TEMPERATURE_RANGE`; the slider moves
            log10 τ in steps of 0.01, so τ is rounded to the nearest such step.
        title: a line above the figure (also its accessible name).
        decimals: places the scores and values are rounded to before they are embedded.
        digits: decimals shown for the weights, entropy and context vector (the page keeps
            full precision in ``data-weight``/``data-value`` attributes).

    Returns:
        An :class:`InteractiveFigure`; its first state is computed with
        :func:`attention_course.attention.masked_softmax` (float64).

    Raises:
        ValueError: scores not 1-D, too few or too many keys, non-finite numbers, values or
            mask or labels of the wrong length, a temperature out of range.
    """
    from keras import ops

    from attention_course.attention import masked_softmax

    scores = np.round(_finite_array("scores", scores, (1,)), decimals)
    n = len(scores)
    if not 2 <= n <= MAX_KEYS:
        raise ValueError(f"the explorer shows 2 to {MAX_KEYS} keys, got {n} scores")
    if values is not None:
        values = np.round(_finite_array("values", values, (1, 2)), decimals)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != n or not 1 <= values.shape[1] <= MAX_VALUE_DIM:
            raise ValueError(f"values must have shape (n, d_v) with n = {n} (one value per "
                             f"score) and d_v ≤ {MAX_VALUE_DIM}, got shape {values.shape}")
    if mask is None:
        mask = np.ones(n, dtype=bool)
    else:
        mask = np.asarray(mask)
        if mask.shape != (n,) or not (mask.dtype == bool or np.isin(mask, (0, 1)).all()):
            raise ValueError(f"mask must be boolean of shape ({n},) (True = attend), got "
                             f"{mask.dtype} of shape {mask.shape}")
        mask = mask.astype(bool)
    labels = _labels(labels, n, "key {}", "label", "key")
    low, high = TEMPERATURE_RANGE
    if not (isinstance(temperature, (int, float)) and low <= temperature <= high):
        raise ValueError(f"temperature must be a number in [{low}, {high}], got {temperature!r}")
    log_tau = round(math.log10(temperature), 2)
    tau = 10.0 ** log_tau
    weights = ops.convert_to_numpy(masked_softmax(scores / tau, mask))
    reach = float(max(5.0, math.ceil(np.abs(scores).max()) + 1.0))

    data = {"scores": scores.tolist(), "mask": mask.tolist(), "digits": digits,
            "values": None if values is None else values.tolist()}
    plane = None
    if values is not None and values.shape[1] == 2:
        plane = _plane_frame(values)
        data["plane"] = plane
    element_id = _element_id("softmax", data)

    rows = []
    for j in range(n):
        key = f"{element_id}-k{j}"
        value_cell = ("" if values is None else
                      f'<td class="ax-value">{_e(_vector(values[j], decimals))}</td>')
        rows.append(
            f'<tr class="ax-key{"" if mask[j] else " ax-masked"}" data-index="{j}">'
            f'<th scope="row">{_e(labels[j])}</th>'
            f'<td class="ax-attend"><input type="checkbox" class="ax-mask" id="{key}-mask"'
            f'{" checked" if mask[j] else ""} disabled aria-label="attend to {_e(labels[j])}"></td>'
            f'<td class="ax-score-cell"><input type="range" class="ax-score-range" '
            'data-ax-live hidden '
            f'min="{-reach:g}" max="{reach:g}" step="0.01" value="{_num(scores[j])}" disabled '
            f'aria-label="score of {_e(labels[j])} (slider)">'
            f'<input type="number" class="ax-score" step="0.1" value="{_num(scores[j])}" disabled '
            f'aria-label="score of {_e(labels[j])}"></td>'
            f'<td class="ax-weight-cell"><span class="ax-bar" aria-hidden="true" '
            f'style="{BAR_STYLE}"><span class="ax-bar-fill" '
            f'style="{BAR_FILL_STYLE}width:{100 * weights[j]:.2f}%"></span></span>'
            f'<span class="ax-weight" data-weight="{_num(weights[j])}">'
            f"{_fixed(weights[j], digits)}</span></td>{value_cell}</tr>"
        )
    total = float(weights.sum())
    probabilities = weights[weights > 0]
    entropy = float(-(probabilities * np.log(probabilities)).sum()) if len(probabilities) else 0.0
    entropy_max = math.log(mask.sum()) if mask.any() else 0.0
    context = "" if values is None else _context_html(weights @ values, digits)
    tau_id = f"{element_id}-tau"
    controls = (
        '<div class="ax-controls">'
        f'<label for="{tau_id}">temperature τ</label>'
        f'<input type="range" class="ax-tau" id="{tau_id}" min="{math.log10(low):g}" '
        f'max="{math.log10(high):g}" step="0.01" value="{log_tau:g}" '
        f'aria-valuetext="temperature {format_temperature(tau)}" disabled>'
        f'<output class="ax-tau-value" for="{tau_id}">{format_temperature(tau)}</output>'
        '<button type="button" class="ax-reset" data-ax-live hidden disabled>reset</button></div>'
    )
    value_head = "" if values is None else "<th scope=\"col\">value v</th>"
    table = (
        '<table class="ax-table"><thead><tr><th scope="col">key</th>'
        '<th scope="col">attend</th><th scope="col">score s</th>'
        f'<th scope="col">weight softmax(s/τ)</th>{value_head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    summary = (
        '<p class="ax-summary" aria-live="polite">'
        f'sum of the weights <span class="ax-sum" data-value="{_num(total)}">'
        f"{_fixed(total, digits)}</span> · entropy "
        f'<span class="ax-entropy" data-value="{_num(entropy)}">{_fixed(entropy, digits)}</span>'
        ' nats (uniform over the attended keys: <span class="ax-entropy-max" '
        f'data-value="{_num(entropy_max)}">{_fixed(entropy_max, digits)}</span>)'
        f"{context}"
        f'<span class="ax-nothing"{"" if not mask.any() else " hidden"}> · every key is '
        "masked: nothing to attend to, so every weight is 0</span></p>"
    )
    picture = "" if plane is None else _plane_svg(plane, values, labels, weights @ values, mask)
    body = (_hint("Drag or type a score, move the temperature, untick a key to mask it.")
            + controls + f'<div class="ax-columns">{table}{picture}</div>' + summary)
    page = _root("softmax", element_id, title, body, data)
    return InteractiveFigure("softmax", element_id, page, data)


def _vector(vector, decimals: int) -> str:
    return "(" + ", ".join(f"{x:g}" for x in np.round(vector, decimals)) + ")"


def _context_html(context: np.ndarray, digits: int) -> str:
    shown = "(" + ", ".join(_fixed(x, digits) for x in context) + ")"
    return (' · context vector c = Σ<sub>j</sub> p<sub>j</sub> v<sub>j</sub> = '
            f'<span class="ax-context" data-value="{_e(json.dumps(context.tolist()))}">'
            f"{shown}</span>")


def _plane_frame(values: np.ndarray, width: float = 240.0, margin: float = 28.0) -> dict:
    """How values (n, 2) map to SVG pixels: a square scale, y pointing up, some margin."""
    low, high = values.min(axis=0), values.max(axis=0)
    pad = 0.1 * max(float((high - low).max()), 1e-9)
    x0, y0 = float(low[0] - pad), float(low[1] - pad)
    x1, y1 = float(high[0] + pad), float(high[1] + pad)
    scale = (width - 2 * margin) / max(x1 - x0, y1 - y0)
    return {"x0": x0, "y1": y1, "scale": scale, "left": margin, "top": margin,
            "width": width, "height": (y1 - y0) * scale + 2 * margin}


def _plane_svg(frame: dict, values: np.ndarray, labels, context, mask) -> str:
    def at(point):
        return (frame["left"] + (point[0] - frame["x0"]) * frame["scale"],
                frame["top"] + (frame["y1"] - point[1]) * frame["scale"])

    parts = []
    centre = values.mean(axis=0)
    cx, cy = at(centre)
    parts.append(f'<path class="ax-plane-mean" stroke="currentColor" '
                 f'd="M{cx - 4:.1f} {cy - 4:.1f}l8 8m0 -8l-8 8"><title>mean of the values</title>'
                 "</path>")
    for j, point in enumerate(values):
        x, y = at(point)
        masked = "" if mask[j] else " ax-masked"
        parts.append(
            f'<g class="ax-plane-value{masked}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5"/>'
            f'<text x="{x + 8:.1f}" y="{y - 7:.1f}">{_e(labels[j])}</text></g>')
    x, y = at(context)
    parts.append(f'<path class="ax-plane-context" transform="translate({x:.2f} {y:.2f})" '
                 'd="M0 -8L8 0L0 8L-8 0Z"><title>context vector c</title></path>')
    svg = (f'<svg class="ax-plane" viewBox="0 0 {frame["width"]:.0f} {frame["height"]:.0f}" '
            f'width="{frame["width"]:.0f}" height="{frame["height"]:.0f}" role="img" '
            'aria-label="the values in the plane (circles) and the context vector (diamond); '
            'the cross is the mean of the values">' + "".join(parts) + "</svg>")
    return (f'<div class="ax-plane-box">{svg}<p class="ax-plane-note" aria-hidden="true">'
            "circles: the values v; diamond: the context vector c; cross: the values' mean"
            "</p></div>")


# -- chapters 5-7: alignment matrices ---------------------------------------------------------


def alignment_explorer(weights, output_tokens: Sequence[str], input_tokens: Sequence[str], *,
                       head_names: Sequence[str] | None = None, title: str | None = None,
                       output_label: str = "output", input_label: str = "input",
                       head_label: str = "head", decimals: int = 5,
                       digits: int | None = None) -> InteractiveFigure:
    """Explore an attention matrix: which inputs each output token attends to, per head.

    For an encoder–decoder (chapter 6) row i holds the weights with which output token i
    (the query: the decoder state) attends to the input tokens (keys/values: the encoder
    states); for self-attention (chapter 7) outputs and inputs are the same tokens; for
    attention pooling (chapter 5) there is one row, the learned query, over a review's words.

    On the page the reader chooses an output token (hover, tap or click, or focus it and use
    the arrow keys); the input tokens are then shaded by that row's weights, from the row's
    smallest weight (no colour) to its largest (full colour), and hovering, tapping or focusing
    an input token reads out its weight and rank. With several heads, radio buttons switch
    between them. With 2 to :data:`MAX_GRID` outputs and at most :data:`MAX_GRID` inputs a
    heat map shows the whole matrix (colour ∝ weight, 0 to 1; pointing at a cell reads it out).

    Args:
        weights: shape (T_out, T_in) or (heads, T_out, T_in), finite and non-negative; each
            row sums to 1 (within 1e-3) or is all zeros (a query with nothing to attend to,
            see :func:`attention_course.attention.masked_softmax`). Rounded to ``decimals``
            places before it is embedded in the page.
        output_tokens: T_out strings, the rows' tokens (e.g. the decoded output).
        input_tokens: T_in strings, the columns' tokens (e.g. the input sequence's tokens).
        head_names: one name per head (default "head 1", …); the radio buttons show them.
        title: a line above the figure (also its accessible name).
        output_label, input_label, head_label: the words for a row, a column and a head in
            the figure's text (e.g. "decoder step", "character", "seed").
        decimals: places the weights are rounded to (default 5).
        digits: decimals shown in the text (default ``decimals``).

    Returns:
        An :class:`InteractiveFigure` whose first state shows the first head's first row.

    Raises:
        ValueError: a wrong rank, token lists that do not match the matrix's shape, weights
            that are negative, not finite, or rows that are not distributions; a matrix over
            the size caps (:data:`MAX_HEADS`, :data:`MAX_OUTPUTS`, :data:`MAX_INPUTS`,
            :data:`MAX_CELLS`): slice the tokens to show first.

    Example (the usage chapters 6 and 7 need)::

        from attention_course import interactive
        interactive.alignment_explorer(
            weights,                 # (heads, T_out, T_in) or (T_out, T_in)
            output_tokens=list("2001-03-12"), input_tokens=list("12 march 2001"),
            head_names=["head 1", "head 2"], title="Alignment of one decoded date",
            output_label="output character", input_label="input character")
    """
    weights = _finite_array("weights", weights, (2, 3))
    if weights.ndim == 2:
        weights = weights[None]
    heads, n_out, n_in = weights.shape
    output_tokens = [str(t) for t in output_tokens]
    input_tokens = [str(t) for t in input_tokens]
    if len(output_tokens) != n_out or len(input_tokens) != n_in:
        raise ValueError(
            f"weights of shape {weights.shape[-2:]} (T_out, T_in) need {n_out} output tokens "
            f"and {n_in} input tokens, got {len(output_tokens)} and {len(input_tokens)}")
    if n_out < 1 or n_in < 1:
        raise ValueError(f"weights must have at least one row and one column, got shape "
                         f"{weights.shape}")
    if (heads > MAX_HEADS or n_out > MAX_OUTPUTS or n_in > MAX_INPUTS
            or weights.size > MAX_CELLS):
        raise ValueError(
            f"weights of shape {weights.shape} are over the page's caps ({MAX_HEADS} heads, "
            f"{MAX_OUTPUTS} outputs, {MAX_INPUTS} inputs, {MAX_CELLS:,} numbers): slice the "
            "tokens to show first")
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative (pass attention weights, not scores)")
    sums = weights.sum(axis=-1)
    bad = ~(np.isclose(sums, 1.0, atol=1e-3) | (sums == 0))
    if bad.any():
        head, row = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"each row of weights must sum to 1 (or be all zeros for a query with "
                         f"nothing to attend to); head {head}, row {row} sums to "
                         f"{sums[head, row]:.6g}. Pass attention weights, not scores")
    names = _labels(head_names, heads, f"{head_label} {{}}", "name", "head")
    digits = decimals if digits is None else digits
    rounded = np.round(weights, decimals)
    data = {"heads": names, "outputs": output_tokens, "inputs": input_tokens,
            "weights": rounded.tolist(), "decimals": decimals, "digits": digits,
            "strong": STRONG_SHADE,
            "inputLabel": input_label}
    element_id = _element_id("alignment", data)
    first = rounded[0, 0]
    body = [_hint(_alignment_hint(n_out, heads, output_label, input_label, head_label))]
    if heads > 1:
        radios = "".join(
            f'<label><input type="radio" class="ax-head" name="{element_id}-head" value="{h}"'
            f'{" checked" if h == 0 else ""} disabled> {_e(name)}</label>'
            for h, name in enumerate(names))
        body.append(f'<fieldset class="ax-heads"><legend>{_e(head_label)}</legend>{radios}'
                    "</fieldset>")
    if n_out > 1:
        tokens = " ".join(
            f'<span class="ax-tok ax-out{" ax-current" if i == 0 else ""}" role="option" '
            f'data-row="{i}" tabindex="{0 if i == 0 else -1}" '
            f'aria-selected="{"true" if i == 0 else "false"}">{_e(token)}</span>'
            for i, token in enumerate(output_tokens))
        body.append(
            f'<div class="ax-label">{_e(output_label)}s</div>'
            f'<div class="ax-tokens ax-outputs" role="listbox" aria-orientation="horizontal" '
            f'aria-label="{_e(output_label)} tokens: choose one to see its weights">'
            f"{tokens}</div>")
    shades = _row_shades(first)
    tokens = " ".join(
        f'<span class="ax-tok ax-in{" ax-strong" if shade > STRONG_SHADE else ""}" '
        f'role="option" data-col="{j}" data-weight="{_num(w)}" tabindex="{0 if j == 0 else -1}" '
        f'aria-selected="false" aria-label="{_e(token)}, weight {w:.{digits}f}" '
        f'style="{_shade(shade)}" title="{w:.{digits}f}">{_e(token)}</span>'
        for j, (token, w, shade) in enumerate(zip(input_tokens, first, shades, strict=True)))
    body.append(
        f'<div class="ax-label">{_e(input_label)}s</div>'
        f'<div class="ax-tokens ax-inputs" role="listbox" aria-orientation="horizontal" '
        f'aria-label="{_e(input_label)} tokens, shaded by their weight">{tokens}</div>')
    body.append(f'<p class="ax-readout" aria-live="polite" data-head="0" data-row="0">'
                f"{_e(_first_readout(first, output_tokens, input_tokens, input_label, digits))}"
                "</p>")
    if 2 <= n_out <= MAX_GRID and n_in <= MAX_GRID:
        body.append(_grid_html(rounded[0], output_tokens, input_tokens, output_label,
                               input_label, names[0] if heads > 1 else None, digits))
    page = _root("alignment", element_id, title, "".join(body), data)
    return InteractiveFigure("alignment", element_id, page, data)


def _alignment_hint(n_out: int, heads: int, output_label: str, input_label: str,
                    head_label: str) -> str:
    text = ""
    if n_out > 1:
        text += (f"Choose one of the {output_label}s (point at it, tap it, or tab to it and use "
                 f"the arrow keys) to shade the {input_label}s by its weights; ")
    text += f"point at, tap or tab to one of the {input_label}s to read its weight"
    if heads > 1:
        text += f"; the buttons switch between the {head_label}s"
    text += "."
    return text[0].upper() + text[1:]


def _shade(alpha: float) -> str:
    """A token's or cell's background at opacity ``alpha`` of the attention colour (as the
    script's ``shade``)."""
    return f"background-color:rgba(var(--ax-accent,{ACCENT}),{alpha:.3f})"


def _row_shades(row: np.ndarray) -> np.ndarray:
    """Min–max shading of one row (as the script and plots.highlight_words_html shade)."""
    low, span = row.min(), row.max() - row.min()
    return (row - low) / span if span > 0 else np.zeros_like(row)


def _first_readout(row, output_tokens, input_tokens, input_label: str, digits: int) -> str:
    """The readout before any interaction (the script's ``describe`` with no input chosen)."""
    several = len(output_tokens) > 1
    if not row.any():
        who = f"“{output_tokens[0]}”" if several else "This row"
        return f"{who} attends to nothing: every weight is 0."
    best = int(np.argmax(row))
    where = f"“{input_tokens[best]}” ({input_label} {best + 1} of {len(row)})"
    if several:
        return (f"“{output_tokens[0]}” puts its largest weight, {_fixed(row[best], digits)}, "
                f"on {where}.")
    return (f"The largest weight, {_fixed(row[best], digits)} ({row[best] * len(row):.2f} × the "
            f"uniform 1/{len(row)}), is on {where}.")


def _grid_html(matrix, output_tokens, input_tokens, output_label: str, input_label: str,
               head: str | None, digits: int) -> str:
    head_text = ", for the chosen head" if head else ""
    strong = ' class="ax-strong"'
    columns = "".join(f'<th scope="col"><span>{_e(t)}</span></th>' for t in input_tokens)
    rows = []
    for i, (token, row) in enumerate(zip(output_tokens, matrix, strict=True)):
        cells = "".join(
            f'<td data-weight="{_num(w)}" style="{_shade(w)}" title="{w:.{digits}f}"'
            f'{strong if w > STRONG_SHADE else ""}>'
            f'<span class="ax-sr">{w:.{digits}f}</span></td>' for w in row)
        rows.append(f'<tr class="ax-grid-row{" ax-current" if i == 0 else ""}" data-row="{i}">'
                    f'<th scope="row">{_e(token)}</th>{cells}</tr>')
    note = (f"Rows: {output_label}s; columns: {input_label}s{head_text}. The darker a cell, the "
            "larger its weight (from 0, no colour, to 1).")
    return (
        f'<table class="ax-grid"><caption class="ax-sr">{_e(note)}</caption>'
        f"<thead><tr><td></td>{columns}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="ax-grid-note" aria-hidden="true">{_e(note)}</p>')
