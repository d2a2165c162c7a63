"""Figures the chapters share: training curves, accuracy by review length, gradients in time.

Every function returns a matplotlib ``Figure`` (the chapter glues it and closes it); none calls
``plt.show``. Colours come from one palette so a model keeps its colour across chapters.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3"]


def _history_dict(history) -> dict[str, list[float]]:
    """Per-epoch metrics from a ``TrainingRun``, a Keras ``History`` or a plain dict."""
    if hasattr(history, "history"):
        history = history.history
    if not isinstance(history, dict) or not history:
        raise ValueError("history must be a TrainingRun, a keras History or a non-empty dict")
    return history


def plot_training_curves(history, title: str | None = None):
    """Loss and accuracy per epoch, training vs validation, side by side.

    ``history`` maps metric names (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``) to
    one value per epoch, or is a :class:`~attention_course.training.TrainingRun`; a run whose
    best epoch was restored gets a dotted vertical line at that (1-based) epoch.
    """
    kept = getattr(history, "best_epoch", None)
    metrics = _history_dict(history)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label, style in (("", "training", "-o"), ("val_", "validation", "--s")):
            values = metrics.get(prefix + metric)
            if values is None:
                continue
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, style, label=label, markersize=4)
        if kept is not None:
            ax.axvline(kept, color="0.4", linestyle=":", linewidth=1,
                       label=f"kept epoch ({kept})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_accuracy_by_length(results_by_model: dict, title: str | None = None,
                            chance: float | None = 0.5,
                            xlabel: str = "review length in ids, before truncation "
                                          "(test reviews per bucket)",
                            ylabel: str = "test accuracy"):
    """Test accuracy per review-length bucket, one line per model, with error bars.

    ``results_by_model`` maps a model's name to the list that
    :func:`attention_course.training.accuracy_by_length` returns (bars: ±1 binomial standard
    error) or :func:`attention_course.stats.bucket_intervals` returns (bars: the interval over
    seeds and examples); all models must use the same buckets. The x labels show each
    bucket's range and review count; ``xlabel`` and ``ylabel`` name the axes (chapter 6:
    input characters and exact match).
    """
    if not results_by_model:
        raise ValueError("results_by_model is empty: nothing to plot")
    first = next(iter(results_by_model.values()))
    labels = [b["label"] for b in first]
    for name, buckets in results_by_model.items():
        if [b["label"] for b in buckets] != labels:
            raise ValueError(
                f"model {name!r} uses buckets {[b['label'] for b in buckets]}, "
                f"expected {labels}"
            )
    positions = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    count = len(results_by_model)
    for index, (name, buckets) in enumerate(results_by_model.items()):
        shift = (index - (count - 1) / 2) * 0.06
        acc = np.array([np.nan if b["accuracy"] is None else b["accuracy"] for b in buckets])
        if all("ci_low" in b for b in buckets):  # stats.bucket_intervals: the interval
            err = np.array([[np.nan, np.nan] if b["ci_low"] is None else
                            [b["accuracy"] - b["ci_low"], b["ci_high"] - b["accuracy"]]
                            for b in buckets]).T
        else:  # training.accuracy_by_length: one binomial standard error
            err = np.array([np.nan if b["stderr"] is None else b["stderr"] for b in buckets])
        ax.errorbar(positions + shift, acc, yerr=err, marker="o", capsize=3, label=name,
                    color=PALETTE[index % len(PALETTE)])
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle=":", linewidth=1)
    ax.set_xticks(positions, [f"{b['label']}\n(n={b['count']})" for b in first])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_gradient_norms(norms_by_model: dict, ylabel: str = "gradient norm",
                        title: str | None = None, ax=None,
                        xlabel: str = "time step t (position of the word)"):
    """One curve per model of a gradient norm against the time step, on a log scale.

    ``norms_by_model`` maps a model's name to a 1-D array of length T (one norm per step);
    zeros (gradients that underflowed) are left out of the log-scale curve. Draws into
    ``ax`` when given (for side-by-side panels), else into a new figure; returns the figure.
    """
    if not norms_by_model:
        raise ValueError("norms_by_model is empty: nothing to plot")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 3.4))
    else:
        fig = ax.figure
    for index, (name, norms) in enumerate(norms_by_model.items()):
        norms = np.asarray(norms, dtype=float)
        if norms.ndim != 1:
            raise ValueError(f"norms for {name!r} must be 1-D (time,), got {norms.shape}")
        shown = np.where(norms > 0, norms, np.nan)
        ax.plot(np.arange(len(norms)), shown, label=name,
                color=PALETTE[index % len(PALETTE)])
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="major")
    ax.legend(frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_attention_heatmap(weights, row_labels, col_labels, ax=None, title: str | None = None,
                           cmap: str = "viridis", vmin: float | None = None,
                           vmax: float | None = None, annotate: bool = True,
                           fmt: str = ".2f", colorbar_label: str = "attention weight"):
    """A (T_q, T_k) matrix of scores or weights as a labelled heatmap.

    Rows are queries (``row_labels``, length T_q), columns keys (``col_labels``, length T_k).
    ``annotate`` writes each value in its cell with ``fmt``. Draws into ``ax`` when given
    (without a new figure) and returns the figure.
    """
    matrix = np.asarray(weights, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"weights must be a 2-D (T_q, T_k) matrix, got shape {matrix.shape}")
    if (len(row_labels), len(col_labels)) != matrix.shape:
        raise ValueError(
            f"labels ({len(row_labels)} rows, {len(col_labels)} columns) do not match "
            f"weights of shape {matrix.shape}"
        )
    if ax is None:
        rows, cols = matrix.shape
        _, ax = plt.subplots(figsize=(1.2 + 0.62 * cols, 0.9 + 0.45 * rows))
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(len(col_labels)), col_labels, rotation=45, ha="right")
    ax.set_yticks(np.arange(len(row_labels)), row_labels)
    ax.tick_params(length=0)
    if annotate:
        for (i, j), value in np.ndenumerate(matrix):
            red, green, blue, _ = image.cmap(image.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            text = format(value, fmt)
            if float(text) == 0:  # no "-0.00"
                text = format(0.0, fmt)
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, label=colorbar_label, shrink=0.8)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_unrolled_rnn(steps: int = 4):
    """A diagram of a simple RNN unrolled over ``steps`` time steps.

    Each column is one step: the input x_t enters through W, the previous state through U,
    and the new state h_t goes up to the output and right to the next step. The same W, U
    and b are used at every step.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2 to show a recurrence, got {steps}")
    fig, ax = plt.subplots(figsize=(1.6 * steps + 1.6, 2.9))
    box = dict(boxstyle="round,pad=0.35", linewidth=1.2)
    arrow = dict(arrowstyle="-|>", color="0.25", linewidth=1.2, shrinkA=12, shrinkB=12)
    xs = np.arange(steps) * 1.6 + 1.4
    ax.annotate("", xy=(xs[0], 1.0), xytext=(0.0, 1.0), arrowprops=arrow)
    ax.text(0.0, 1.0, "$h_0$", ha="center", va="center", fontsize=12,
            bbox={**box, "facecolor": "white", "edgecolor": "0.6"})
    for t, x in enumerate(xs, start=1):
        name = "T" if t == steps else str(t)
        ax.text(x, 0.0, f"$x_{{{name}}}$", ha="center", va="center", fontsize=12,
                bbox={**box, "facecolor": "#DCE6F2", "edgecolor": PALETTE[0]})
        ax.text(x, 1.0, f"$h_{{{name}}}$", ha="center", va="center", fontsize=12,
                bbox={**box, "facecolor": "#FBE5D6", "edgecolor": PALETTE[1]})
        ax.annotate("", xy=(x, 1.0), xytext=(x, 0.0), arrowprops=arrow)
        ax.text(x + 0.08, 0.5, "$W$", fontsize=11, va="center")
        if t > 1:
            ax.annotate("", xy=(x, 1.0), xytext=(xs[t - 2], 1.0), arrowprops=arrow)
            ax.text((x + xs[t - 2]) / 2, 1.12, "$U$", fontsize=11, ha="center")
        if t == steps:
            ax.annotate("", xy=(x, 1.9), xytext=(x, 1.0), arrowprops=arrow)
            ax.text(x, 2.05, "classifier", ha="center", va="bottom", fontsize=10)
    ax.text(xs[0] - 0.8, 1.12, "$U$", fontsize=11, ha="center")
    if steps > 2:
        ax.text((xs[-2] + xs[-1]) / 2, 0.0, "...", ha="center", va="center", fontsize=14)
    ax.set_xlim(-0.5, xs[-1] + 0.6)
    ax.set_ylim(-0.45, 2.4)
    ax.axis("off")
    fig.tight_layout()
    return fig


# -- chapter 5: attention weights over the words of a review ----------------------------------

HIGHLIGHT_RGB = (221, 132, 82)  # PALETTE[1], the attention colour of chapter 5


def highlight_words_html(words, weights, title: str | None = None) -> str:
    """HTML for one review with each word's background shaded by its attention weight.

    ``words`` (a list of T strings) and ``weights`` (shape (T,)) go together. The shade
    runs from the review's smallest weight (no colour) to its largest (full colour), so
    even nearly uniform weights show their ranking; hovering a word shows its weight.
    Display the string with ``IPython.display.HTML``. Text is dark on a light box, readable
    in light and dark themes.
    """
    from html import escape

    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1 or len(words) != len(weights):
        raise ValueError(f"need one weight per word: {len(words)} words, weights of shape "
                         f"{weights.shape}")
    if np.any(~np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("attention weights must be finite and non-negative")
    low = weights.min() if len(weights) else 0.0
    span = (weights.max() - low) if len(weights) else 0.0
    shade = (weights - low) / span if span > 0 else np.zeros_like(weights)
    red, green, blue = HIGHLIGHT_RGB
    spans = [
        f'<span title="{w:.4f}" style="background:rgba({red},{green},{blue},'
        f'{a:.3f});padding:0 1px;border-radius:2px">{escape(str(word))}</span>'
        for word, w, a in zip(words, weights, shade, strict=True)
    ]
    heading = (f'<div style="font-weight:600;margin-bottom:4px">{escape(title)}</div>'
               if title else "")
    return (
        '<div class="attention-highlight" style="background:#fff;color:#222;'
        "border:1px solid #ddd;border-radius:4px;padding:8px 10px;margin:6px 0;"
        'font-size:0.88em;line-height:1.65">'
        f"{heading}{' '.join(spans)}</div>"
    )


def plot_weight_by_position(mass_by_model: dict, title: str | None = None):
    """Where the attention falls in a review, relative to uniform weights, per model.

    ``mass_by_model`` maps a name to an array (bins,) of the mean share of the weight in
    each part of a review, as :func:`attention_course.explanation.weight_mass_by_position`
    returns. The curves show share × bins: 1 (the dotted line) is what uniform weights (a
    plain average of the states) give, 2 means twice the uniform share.
    """
    if not mass_by_model:
        raise ValueError("mass_by_model is empty: nothing to plot")
    masses = {name: np.asarray(m, dtype=float) for name, m in mass_by_model.items()}
    bins = {m.shape for m in masses.values()}
    if len(bins) != 1 or len(next(iter(bins))) != 1:
        raise ValueError(f"every model needs a 1-D array with the same bins, got {bins}")
    count = len(next(iter(masses.values())))
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    centres = np.arange(count)
    ratios = {name: mass * count for name, mass in masses.items()}
    for index, (name, ratio) in enumerate(ratios.items()):
        ax.plot(centres, ratio, "-o", markersize=4, label=name,
                color=PALETTE[(index + 1) % len(PALETTE)])
    ax.axhline(1.0, color="0.3", linestyle=":", linewidth=1.2, label="uniform weights")
    values = np.concatenate(list(ratios.values()))
    ax.set_ylim(min(0.9, values.min() - 0.02), max(1.1, values.max() + 0.02))
    ax.set_xticks(centres, [f"{100 * i // count}-{100 * (i + 1) // count}%"
                            for i in range(count)], fontsize=8)
    ax.set_xlabel("part of the review (relative position of the word)")
    ax.set_ylabel("share of the attention\nrelative to uniform")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=9, loc="best")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_deletion_effect(ks, changes: dict, ylabel: str = "mean |change| in P(positive)",
                         title: str | None = None):
    """How much predictions move when k words are deleted, one line per way of choosing them.

    ``ks`` (m,) are the numbers of deleted words; ``changes`` maps a label (e.g. "top-k by
    attention", "k random words") to an array (m,) or to a pair (mean (m,), stderr (m,)).
    """
    ks = np.asarray(ks)
    if not changes:
        raise ValueError("changes is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    for index, (label, values) in enumerate(changes.items()):
        mean, err = (values if isinstance(values, tuple) else (values, None))
        mean = np.asarray(mean, dtype=float)
        if mean.shape != ks.shape:
            raise ValueError(f"{label!r}: {mean.shape} values for {ks.shape} values of k")
        ax.errorbar(ks, mean, yerr=err, marker="o", capsize=3, label=label,
                    color=PALETTE[(index * 2 + 1) % len(PALETTE)])
    ax.set_xlabel("k, words deleted from each review")
    ax.set_ylabel(ylabel)
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_attention_heads(weights, tokens, title: str | None = None, max_tokens: int = 40):
    """Self-attention weights of one sequence, one heatmap per head, side by side.

    ``weights`` (heads, T, T): row q holds query position q's weights over the keys;
    ``tokens`` (T,) label both axes. Only the first ``max_tokens`` positions are drawn (the
    rows then need not sum to 1). Returns the figure; each panel shares one colour scale.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"weights must have shape (heads, T, T), got {weights.shape}")
    if len(tokens) != weights.shape[1]:
        raise ValueError(f"{len(tokens)} tokens for weights over {weights.shape[1]} positions")
    shown = min(weights.shape[1], max_tokens)
    weights, tokens = weights[:, :shown, :shown], list(tokens)[:shown]
    heads = weights.shape[0]
    size = 1.2 + 0.14 * shown
    fig, axes = plt.subplots(1, heads, figsize=(min(size * heads, 13), min(size, 6.5)),
                             squeeze=False, layout="constrained")
    vmax = float(weights.max()) or 1.0
    for head, ax in enumerate(axes[0]):
        image = ax.imshow(weights[head], cmap="viridis", vmin=0, vmax=vmax)
        ax.set_xticks(np.arange(shown), tokens, rotation=90, fontsize=7)
        ax.set_yticks(np.arange(shown), tokens if head == 0 else [], fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(f"head {head + 1}", fontsize=10)
        ax.set_xlabel("key (attended to)")
    axes[0][0].set_ylabel("query (attending)")
    fig.colorbar(image, ax=axes[0].tolist(), label="attention weight", shrink=0.7)
    if title:
        fig.suptitle(title)
    return fig


def plot_cost_scaling(measurements: dict, reference_mb=None, title: str | None = None):
    """Time and peak memory of layers against the sequence length, on log-log axes.

    ``measurements`` maps a layer's name to a dict with ``lengths``, ``seconds`` and
    ``memory_mb`` (as :func:`attention_course.cost.measure_layer` returns). ``reference_mb``
    is an optional pair ``(label, values)`` drawn dashed on the memory panel (e.g. the size
    of the score matrix at each length).
    """
    if not measurements:
        raise ValueError("measurements is empty: nothing to plot")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.3))
    for index, (name, result) in enumerate(measurements.items()):
        lengths = np.asarray(result["lengths"])
        color = PALETTE[index % len(PALETTE)]
        left.plot(lengths, 1000 * np.asarray(result["seconds"]), "-o", markersize=4,
                  color=color, label=name)
        memory = np.array([np.nan if m is None else max(m, 0.01)
                           for m in result["memory_mb"]])
        right.plot(lengths, memory, "-o", markersize=4, color=color, label=name)
    if reference_mb is not None:
        label, values = reference_mb
        right.plot(lengths, values, "--", color="0.4", linewidth=1, label=label)
    left.set_ylabel("time per forward pass (ms)")
    right.set_ylabel("peak memory above baseline (MiB)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(t) for t in lengths], fontsize=8)
        ax.set_xlabel("sequence length T")
        ax.grid(alpha=0.3, which="both")
    left.legend(frameon=False, fontsize=9)
    right.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
