#!/usr/bin/env bash
# The project's commands. Usage:
#   ./tasks.sh book         build the HTML book into _build/html, executing only the chapters whose
#                           code or inputs changed since the last build (profile: automatic)
#   ./tasks.sh chapter N    execute chapter N (a number, or a file in book/) and build its page
#   ./tasks.sh test         ruff, unit tests, every chapter under nbval, the book build and checks
#                           of the built pages (profile: smoke unless ATTENTION_PROFILE is set)
#   ./tasks.sh setup        only create/update the virtual environment (.venv)
#   ./tasks.sh backend B    on Keras backend B (jax, torch): backend-dependent unit tests, chapters
#   ./tasks.sh dry-run      every chapter with the full profile's models and settings, few batches
# ATTENTION_PROFILE=smoke|cpu|full chooses how much the chapters train.
# ATTENTION_FRESH_BUILD=1 deletes _build first: every chapter is executed (CI, publishing).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 14)))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "tasks.sh: need Python 3.10-3.13 (3.11 tested); set PYTHON=/path/to/python" >&2
  return 1
}

setup() {
  local stamp="$VENV/.installed" want
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing pinned dependencies (constraints.txt) into $VENV"
    local start=$SECONDS
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
    echo "==> installed in $((SECONDS - start)) s"
  fi
  export PATH="$VENV/bin:$PATH"
  # Kernels started by the book build and nbval must be this environment's Python.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
  # ...and must not log "Kernel is running over TCP without encryption" at every start
  # (src/attention_course/kernel_log.py says why; IPython reads <prefix>/etc/ipython).
  mkdir -p "$VENV/etc/ipython"
  cat > "$VENV/etc/ipython/ipython_kernel_config.py" <<'EOF'
# Written by tasks.sh setup: see src/attention_course/kernel_log.py.
try:
    from attention_course.kernel_log import kernel_logging_config
except ImportError:  # a kernel without the course package keeps the default logging
    pass
else:
    c.IPKernelApp.logging_config = kernel_logging_config()  # noqa: F821 (c: IPython's config)
EOF
  export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
  export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-0}
}

use_profile() {
  # Resolve ATTENTION_PROFILE once for every step: as set, else $1, else automatic (full with
  # a GPU, cpu without).
  local how="set by ATTENTION_PROFILE"
  if [ -z "${ATTENTION_PROFILE:-}" ]; then
    how=${1:+"the default of ./tasks.sh $cmd"}
    how=${how:-automatic}
    export ATTENTION_PROFILE=${1:-}
  fi
  ATTENTION_PROFILE=$(python -c 'import sys
from attention_course.config import get_profile
try:
    print(get_profile().name)
except ValueError as err:
    sys.exit(f"tasks.sh: {err}")')
  export ATTENTION_PROFILE
  PROFILE_NOTE="$ATTENTION_PROFILE, $how"
}

build_book() {
  # $1: a chapter's docname (book/NN_name) to execute, or nothing for the whole book.
  local chapter=${1:-} start=$SECONDS log="$ROOT/_build/jupyter-book.log" page
  if [ "${ATTENTION_FRESH_BUILD:-0}" != 0 ]; then
    echo "==> fresh build: deleting _build (ATTENTION_FRESH_BUILD=$ATTENTION_FRESH_BUILD)"
    rm -rf _build
  fi
  if [ -n "$chapter" ]; then
    echo "==> executing $chapter.md and building its page (profile: $PROFILE_NOTE)"
  else
    echo "==> building the book (profile: $PROFILE_NOTE)"
  fi
  mkdir -p _build
  # Jupyter Book's own stdout (a banner and a box around the result's path) goes to the log;
  # warnings, errors and the per-chapter progress (_ext/execution_cache.py) go to stderr.
  if ! ATTENTION_BUILD_CHAPTER=$chapter jupyter-book build . -W --keep-going --quiet >"$log"; then
    cat "$log"
    echo "==> the book build FAILED after $((SECONDS - start)) s (see the errors above)" >&2
    return 1
  fi
  page="$ROOT/_build/html/${chapter:-index}.html"
  echo "==> built in $((SECONDS - start)) s: $page"
}

chapter_docname() {
  # A chapter number (3, 03) or a file name (03_alignment_scores, book/03_alignment_scores.md).
  local arg=${1:-} matches=()
  if [ -z "$arg" ]; then
    echo "tasks.sh: chapter needs a number or a file, e.g. ./tasks.sh chapter 3" >&2; return 2
  fi
  if [[ $arg =~ ^[0-9]+$ ]]; then
    matches=(book/"$(printf '%02d' "$((10#$arg))")"_*.md)
    [ -e "${matches[0]}" ] || matches=()
  else
    arg=$(basename "${arg%.md}")
    [ -e "book/$arg.md" ] && matches=("book/$arg.md")
  fi
  if [ "${#matches[@]}" -ne 1 ] || ! head -12 "${matches[0]}" | grep -q 'format_name: myst'; then
    echo "tasks.sh: no chapter '$1' in book/; chapters:" >&2
    grep -l 'format_name: myst' book/*.md | sed 's/^/  /' >&2
    return 2
  fi
  echo "${matches[0]%.md}"
}

run_chapters() {
  # Every chapter under nbval, one pytest run per chapter (its time and result on one line),
  # converted with jupytext into a temporary folder. Results that chapters pass on to later
  # ones (attention_course.results) go to that folder too, not to the book build's.
  local tmp chapters=() failed=() nb name t log
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  for f in book/*.md; do
    head -12 "$f" | grep -q 'format_name: myst' && chapters+=("$f")
  done
  for f in "${chapters[@]}"; do
    jupytext --quiet --to ipynb -o "$tmp/$(basename "${f%.md}").ipynb" "$f"
  done
  echo "==> executing ${#chapters[@]} chapters under nbval (profile: $PROFILE_NOTE)"
  log="$tmp/nbval.log"
  for f in "${chapters[@]}"; do
    name=$(basename "${f%.md}")
    nb="$tmp/$name.ipynb"
    t=$SECONDS
    if ATTENTION_RESULTS_DIR="$tmp/results" python -m pytest --nbval-lax -p no:cacheprovider \
         -q --no-header --rootdir "$tmp" -o "testpaths=" "$nb" >"$log" 2>&1; then
      printf '    %-34s ok (%s) in %d s\n' "$f" "$(tail -1 "$log" | sed -E 's/^=+ | =+$//g; s/ in [0-9.]+s.*//')" \
        "$((SECONDS - t))"
    else
      printf '    %-34s FAILED in %d s:\n' "$f" "$((SECONDS - t))"
      cat "$log"
      failed+=("$f")
    fi
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> chapters that failed under nbval: ${failed[*]}" >&2
    return 1
  fi
}

# Unit tests of the modules whose code runs on the Keras backend: run again on each other backend.
BACKEND_TESTS="attention attention_properties layers pooling pooling_inputs rnn backend batching
  self_attention multi_head positional transformer"

run_backend() {
  # The backend-dependent unit tests and every chapter under nbval on Keras backend $1.
  local backend=$1 tests=() name start=$SECONDS
  for name in $BACKEND_TESTS; do
    if [ -f "tests/test_$name.py" ]; then tests+=("tests/test_$name.py"); fi
  done
  echo "==> Keras backend $backend: unit tests (${tests[*]})"
  KERAS_BACKEND=$backend python -m pytest -p no:cacheprovider -k "not other_backends" "${tests[@]}"
  (export KERAS_BACKEND=$backend; PROFILE_NOTE="$PROFILE_NOTE; Keras backend $backend"
   run_chapters)
  echo "==> Keras backend $backend: done in $((SECONDS - start)) s"
}

dry_run() {
  # Every chapter with the full profile's models and settings on smoke-sized data, one epoch
  # (config.py): no code path is first run on a GPU. On TensorFlow by default: JAX compiles
  # one program per batch shape, and a dry run is almost all first shapes (measured: 3-4x
  # slower); the JAX stage runs JAX's own code paths. DRY_RUN_BACKEND=jax to choose.
  local start=$SECONDS
  (export ATTENTION_PROFILE=full ATTENTION_DRY_RUN=1
   export KERAS_BACKEND=${DRY_RUN_BACKEND:-${KERAS_BACKEND:-tensorflow}}
   PROFILE_NOTE="full, dry run; Keras backend $KERAS_BACKEND"
   run_chapters)
  echo "==> dry run of the full profile: done in $((SECONDS - start)) s"
}

kill_tree() {
  # Stop process $1 and its descendants, children first.
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

cmd=${1:-}
case "$cmd" in
  setup) setup ;;
  book) setup; use_profile; build_book ;;
  chapter)
    docname=$(chapter_docname "${2:-}")
    setup; use_profile; build_book "$docname" ;;
  test)
    start=$SECONDS
    # Tests check correctness: the smoke profile unless one is set (seconds per chapter).
    setup; use_profile smoke
    echo "==> ruff"
    ruff check .
    # Three streams that need nothing from each other: unless ATTENTION_TEST_JOBS=1, the JAX
    # stage and the chapters under nbval (then the dry run) run beside the unit tests and the
    # book build, each in its own processes, and their logs are printed when they end. The
    # nbval stage sits with the dry run because that balances the streams: in CI (2 cores)
    # the unit tests took 890 s, the JAX stage 1,532 s, the dry run 1,215 s, and nbval 429 s.
    side=$(mktemp -d) side_pids=()
    if [ "${ATTENTION_TEST_JOBS:-3}" != 1 ]; then
      echo "==> Keras backend jax, and the chapters under nbval then the dry run of the full" \
           "profile: started beside the rest"
      (run_backend jax) >"$side/jax.log" 2>&1 & side_pids+=("$!:jax")
      # (set -e: a chapter that fails under nbval ends this stage before the dry run)
      (run_chapters; dry_run) >"$side/chapters.log" 2>&1 & side_pids+=("$!:chapters")
      # If a stage here fails, stop the side stages too (and everything they started).
      trap 'for e in "${side_pids[@]}"; do kill_tree "${e%%:*}"; done' EXIT
    fi
    echo "==> unit tests"
    # (run_backend runs the backend tests on JAX itself, not in a subprocess)
    python -m pytest tests --ignore=tests/book -k "not other_backends"
    if [ "${#side_pids[@]}" -eq 0 ]; then
      run_chapters
      run_backend jax
      dry_run
    fi
    build_book
    echo "==> checks of the built book"
    python -m pytest tests/book
    side_failed=()
    for entry in "${side_pids[@]}"; do
      if wait "${entry%%:*}"; then status=ok; else status=FAILED; side_failed+=("${entry#*:}"); fi
      echo "==> ${entry#*:} ($status):"
      cat "$side/${entry#*:}.log"
    done
    trap - EXIT
    rm -rf "$side"
    if [ "${#side_failed[@]}" -gt 0 ]; then
      echo "==> FAILED: ${side_failed[*]}" >&2
      exit 1
    fi
    echo "==> all tests passed in $((SECONDS - start)) s (profile: $PROFILE_NOTE)"
    ;;
  backend)
    setup; use_profile smoke; run_backend "${2:?usage: ./tasks.sh backend jax|torch|tensorflow}" ;;
  dry-run) setup; dry_run ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
