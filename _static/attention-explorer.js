/*
 * Interactive attention figures for "Attention, Step by Step" (plain JavaScript, no network).
 *
 * The HTML of each figure is written by the Python package when a chapter runs
 * (src/attention_course/interactive.py): it already shows the figure's first state, computed
 * by attention_course.attention, so readers without JavaScript (and print) see a correct static
 * figure. This file only wires up the controls and recomputes what they change:
 *
 *   .ax-widget[data-ax="softmax"]    scores, temperature and mask of one query → weights, their
 *                                    entropy and the context vector (chapter 4);
 *   .ax-widget[data-ax="alignment"]  an (outputs × inputs) weight matrix per head: choose an
 *                                    output token to shade the inputs by its weights (chapters
 *                                    5, 6, 7).
 *
 * Every number a figure shows is also in a data attribute at full precision (data-weight,
 * data-value, data-temperature): tests/book/test_browser.py reads them and compares them with
 * the Python implementation. A figure that has been set up carries data-ax-ready="true".
 */
(function () {
  "use strict";

  /*
   * Softmax over the positions where mask[i] is true, exactly as
   * attention_course.attention.masked_softmax computes it: subtract the largest attended score
   * (0 when nothing is attended), exponentiate, divide by the sum. Masked positions get exactly
   * 0; a row with nothing to attend to gets all zeros (not NaN, not uniform).
   */
  function maskedSoftmax(scores, mask) {
    var n = scores.length;
    var attend = function (i) { return mask ? Boolean(mask[i]) : true; };
    var peak = -Infinity;
    for (var i = 0; i < n; i++) {
      if (attend(i) && scores[i] > peak) peak = scores[i];
    }
    if (!isFinite(peak)) peak = 0;
    var exps = new Array(n);
    var total = 0;
    for (var j = 0; j < n; j++) {
      exps[j] = attend(j) ? Math.exp(scores[j] - peak) : 0;
      total += exps[j];
    }
    var divisor = total > 0 ? total : 1;
    return exps.map(function (e, k) { return attend(k) ? e / divisor : 0; });
  }

  /* Entropy −Σ p log p in nats; zero weights contribute 0 (so an all-zero row has entropy 0). */
  function entropy(weights) {
    var h = 0;
    weights.forEach(function (p) { if (p > 0) h -= p * Math.log(p); });
    return h === 0 ? 0 : h; // no "-0"
  }

  function sum(values) {
    return values.reduce(function (a, b) { return a + b; }, 0);
  }

  /* The temperature's label, as interactive.py formats it. */
  function formatTemperature(tau) {
    return tau < 0.1 ? tau.toFixed(3) : tau < 10 ? tau.toFixed(2) : tau.toFixed(1);
  }

  function formatVector(vector, digits) {
    return "(" + vector.map(function (x) { return fixed(x, digits); }).join(", ") + ")";
  }

  /* toFixed without "-0.00". */
  function fixed(x, digits) {
    var text = x.toFixed(digits);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
  }

  /* The attention colour at opacity alpha (interactive.py's _shade). */
  function shadeColour(alpha) {
    return "rgba(var(--ax-accent, 221, 132, 82), " + alpha.toFixed(3) + ")";
  }

  function readData(root) {
    var node = root.querySelector("script.ax-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  // -- chapter 4: one row of scores --------------------------------------------------------------

  function initSoftmax(root) {
    var data = readData(root);
    var rows = Array.prototype.slice.call(root.querySelectorAll("tr.ax-key"));
    var tau = root.querySelector("input.ax-tau");
    var tauLabel = root.querySelector("output.ax-tau-value");
    var plane = root.querySelector("svg.ax-plane");
    var initial = { scores: data.scores.slice(), mask: data.mask.slice(), logTau: tau.value,
                    texts: rows.map(function (row) { return row.querySelector("input.ax-score").value; }) };
    var state = { scores: data.scores.slice(), mask: data.mask.slice() };

    function temperature() {
      return Math.pow(10, Number(tau.value));
    }

    function update() {
      var t = temperature();
      var scaled = state.scores.map(function (s) { return s / t; });
      var weights = maskedSoftmax(scaled, state.mask);
      root.dataset.temperature = String(t);
      tauLabel.textContent = formatTemperature(t);
      tau.setAttribute("aria-valuetext", "temperature " + formatTemperature(t));
      rows.forEach(function (row, i) {
        var cell = row.querySelector(".ax-weight");
        cell.dataset.weight = String(weights[i]);
        cell.textContent = fixed(weights[i], data.digits);
        row.querySelector(".ax-bar-fill").style.width = (100 * weights[i]).toFixed(2) + "%";
        row.classList.toggle("ax-masked", !state.mask[i]);
      });
      var total = sum(weights);
      var h = entropy(weights);
      var attended = state.mask.filter(Boolean).length;
      setValue(root.querySelector(".ax-sum"), total, fixed(total, data.digits));
      setValue(root.querySelector(".ax-entropy"), h, fixed(h, data.digits));
      var hMax = attended > 0 ? Math.log(attended) : 0;
      setValue(root.querySelector(".ax-entropy-max"), hMax, fixed(hMax, data.digits));
      root.querySelector(".ax-nothing").hidden = attended > 0;
      if (data.values) {
        var context = data.values[0].map(function (_, d) {
          return sum(weights.map(function (w, j) { return w * data.values[j][d]; }));
        });
        var out = root.querySelector(".ax-context");
        out.dataset.value = JSON.stringify(context);
        out.textContent = formatVector(context, data.digits);
        if (plane) movePlane(plane, data.plane, context, state.mask);
      }
    }

    function setValue(node, value, text) {
      node.dataset.value = String(value);
      node.textContent = text;
    }

    rows.forEach(function (row, i) {
      var slider = row.querySelector("input.ax-score-range");
      var typed = row.querySelector("input.ax-score");
      var box = row.querySelector("input.ax-mask");
      slider.addEventListener("input", function () {
        state.scores[i] = Number(slider.value);
        typed.value = slider.value;
        typed.removeAttribute("aria-invalid");
        update();
      });
      typed.addEventListener("input", function () {
        var value = typed.value.trim() === "" ? NaN : Number(typed.value);
        if (!isFinite(value)) {
          typed.setAttribute("aria-invalid", "true");
          return; // keep the last valid score
        }
        typed.removeAttribute("aria-invalid");
        state.scores[i] = value;
        slider.value = String(value); // the browser clamps it to the slider's range
        update();
      });
      box.addEventListener("change", function () {
        state.mask[i] = box.checked;
        update();
      });
    });
    tau.addEventListener("input", update);
    root.querySelector("button.ax-reset").addEventListener("click", function () {
      state.scores = initial.scores.slice();
      state.mask = initial.mask.slice();
      tau.value = initial.logTau;
      rows.forEach(function (row, i) {
        row.querySelector("input.ax-score-range").value = String(state.scores[i]);
        var typed = row.querySelector("input.ax-score");
        typed.value = initial.texts[i];
        typed.removeAttribute("aria-invalid");
        row.querySelector("input.ax-mask").checked = state.mask[i];
      });
      update();
    });
    update();
  }

  /* Move the context vector's marker in the 2-D picture of the values; grey out masked values. */
  function movePlane(svg, frame, context, mask) {
    var x = frame.left + (context[0] - frame.x0) * frame.scale;
    var y = frame.top + (frame.y1 - context[1]) * frame.scale;
    var marker = svg.querySelector(".ax-plane-context");
    marker.setAttribute("transform", "translate(" + x.toFixed(2) + " " + y.toFixed(2) + ")");
    svg.querySelectorAll(".ax-plane-value").forEach(function (node, j) {
      node.classList.toggle("ax-masked", !mask[j]);
    });
  }

  // -- chapters 5-7: an (outputs × inputs) weight matrix per head --------------------------------

  function initAlignment(root) {
    var data = readData(root);
    var outputs = Array.prototype.slice.call(root.querySelectorAll(".ax-out"));
    var inputs = Array.prototype.slice.call(root.querySelectorAll(".ax-in"));
    var gridRows = Array.prototype.slice.call(root.querySelectorAll("tr.ax-grid-row"));
    var readout = root.querySelector(".ax-readout");
    // The chosen row follows the pointer (and focus, and taps); an input token read out by
    // pointing at it (hoverCol) gives way to the one last focused or tapped (pinnedCol).
    var state = { head: 0, row: 0, pinnedCol: null, hoverCol: null };

    function row() { return state.row; }
    function col() { return state.hoverCol !== null ? state.hoverCol : state.pinnedCol; }
    function weightsOf(head, r) { return data.weights[head][r]; }

    function render() {
      var r = row();
      var c = col();
      var weights = weightsOf(state.head, r);
      var low = Math.min.apply(null, weights);
      var span = Math.max.apply(null, weights) - low;
      inputs.forEach(function (token, j) {
        var shade = span > 0 ? (weights[j] - low) / span : 0;
        token.dataset.weight = String(weights[j]);
        token.style.backgroundColor = shadeColour(shade);
        token.classList.toggle("ax-strong", shade > data.strong);
        token.classList.toggle("ax-current", j === c);
        token.setAttribute("aria-selected", j === c ? "true" : "false");
        token.setAttribute("aria-label", data.inputs[j] + ", weight " +
          fixed(weights[j], data.digits));
      });
      outputs.forEach(function (token, i) {
        token.classList.toggle("ax-current", i === r);
        token.setAttribute("aria-selected", i === r ? "true" : "false");
      });
      gridRows.forEach(function (tr, i) {
        tr.classList.toggle("ax-current", i === r);
        var cells = tr.querySelectorAll("td");
        weightsOf(state.head, i).forEach(function (w, j) {
          var cell = cells[j];
          cell.dataset.weight = String(w);
          cell.style.backgroundColor = shadeColour(w);
          cell.classList.toggle("ax-strong", w > data.strong);
          cell.classList.toggle("ax-current", i === r && j === c);
          cell.querySelector(".ax-sr").textContent = fixed(w, data.digits);
          cell.title = fixed(w, data.digits);
        });
      });
      root.dataset.head = String(state.head);
      root.dataset.row = String(r);
      describe(weights, r, c);
    }

    function describe(weights, r, c) {
      var output = data.outputs[r];
      var from = data.outputs.length > 1 ? " \u2190 \u201c" + output + "\u201d" : "";
      readout.dataset.head = String(state.head);
      readout.dataset.row = String(r);
      if (c === null) {
        delete readout.dataset.col;
        delete readout.dataset.weight;
        if (!weights.some(function (x) { return x > 0; })) {
          readout.textContent = (data.outputs.length > 1 ? "\u201c" + output + "\u201d" :
            "This row") + " attends to nothing: every weight is 0.";
          return;
        }
        var best = weights.indexOf(Math.max.apply(null, weights));
        var where = "\u201c" + data.inputs[best] + "\u201d (" + data.inputLabel + " " +
          (best + 1) + " of " + weights.length + ")";
        readout.textContent = data.outputs.length > 1 ?
          "\u201c" + output + "\u201d puts its largest weight, " +
            fixed(weights[best], data.digits) + ", on " + where + "." :
          "The largest weight, " + fixed(weights[best], data.digits) + " (" +
            (weights[best] * weights.length).toFixed(2) + " \u00d7 the uniform 1/" +
            weights.length + "), is on " + where + ".";
        return;
      }
      var w = weights[c];
      var rank = 1 + weights.filter(function (x) { return x > w; }).length;
      readout.dataset.col = String(c);
      readout.dataset.weight = String(w);
      readout.textContent = "\u201c" + data.inputs[c] + "\u201d (" + data.inputLabel + " " +
        (c + 1) + " of " + weights.length + ")" + from + ": weight " +
        fixed(w, data.digits) + (data.outputs.length > 1 ? "" : " (" +
          (w * weights.length).toFixed(2) + " \u00d7 uniform)") +
        ", rank " + rank + " of " + weights.length +
        (data.heads.length > 1 ? " (" + data.heads[state.head] + ")" : "") + ".";
    }

    /* Roving tab stop: one token of a list is in the tab order; the arrow keys move along. */
    function rove(tokens, onMove) {
      tokens.forEach(function (token, k) {
        token.addEventListener("keydown", function (event) {
          var next = { ArrowRight: k + 1, ArrowDown: k + 1, ArrowLeft: k - 1, ArrowUp: k - 1,
                       Home: 0, End: tokens.length - 1 }[event.key];
          if (next === undefined) return;
          event.preventDefault();
          next = Math.max(0, Math.min(tokens.length - 1, next));
          tokens[next].focus();
        });
        token.addEventListener("focus", function () {
          tokens.forEach(function (t) { t.tabIndex = -1; });
          token.tabIndex = 0;
          onMove(k);
        });
      });
    }

    rove(inputs, function (j) { state.pinnedCol = j; render(); });
    rove(outputs, function (i) { state.row = i; render(); });
    inputs.forEach(function (token, j) {
      token.addEventListener("mouseenter", function () { state.hoverCol = j; render(); });
      token.addEventListener("click", function () { state.pinnedCol = j; render(); });
    });
    outputs.forEach(function (token, i) {
      token.addEventListener("mouseenter", function () { state.row = i; render(); });
      token.addEventListener("click", function () { state.row = i; render(); });
    });
    gridRows.forEach(function (tr, i) {
      tr.querySelectorAll("td").forEach(function (cell, j) {
        cell.addEventListener("mouseenter", function () {
          state.row = i; state.hoverCol = j; render();
        });
        cell.addEventListener("click", function () {
          state.row = i; state.pinnedCol = j; state.hoverCol = null; render();
        });
      });
      tr.querySelector("th").addEventListener("mouseenter", function () {
        state.row = i; render();
      });
    });
    root.querySelectorAll(".ax-inputs, .ax-outputs, .ax-grid").forEach(function (area) {
      area.addEventListener("mouseleave", function () {
        state.hoverCol = null; render();
      });
    });
    root.querySelectorAll("input.ax-head").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked) { state.head = Number(radio.value); render(); }
      });
    });
    render();
  }

  // -- set-up ------------------------------------------------------------------------------------

  var KINDS = { softmax: initSoftmax, alignment: initAlignment };

  function initAll() {
    document.querySelectorAll(".ax-widget[data-ax]").forEach(function (root) {
      if (root.dataset.axReady) return;
      var init = KINDS[root.dataset.ax];
      if (!init) return;
      // The page's HTML disables the controls and hides the hints and sliders, which do
      // nothing without this script.
      root.querySelectorAll("input, button").forEach(function (el) { el.disabled = false; });
      root.querySelectorAll("[data-ax-live]").forEach(function (el) { el.hidden = false; });
      init(root);
      root.classList.add("ax-live");
      root.dataset.axReady = "true";
    });
  }

  window.AttentionExplorer = { maskedSoftmax: maskedSoftmax, entropy: entropy, initAll: initAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
})();
