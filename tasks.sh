#!/usr/bin/env bash
# The project's commands. Usage:
#   ./tasks.sh book     build the HTML book (executes every chapter) into _build/html
#   ./tasks.sh test     run every test: lint, unit tests, chapters under nbval, book build + checks
#   ./tasks.sh setup    only create/update the virtual environment (.venv)
# Set ATTENTION_PROFILE=smoke|cpu|full to choose how much the chapters train.
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
  export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
  export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-0}
}

build_book() {
  echo "==> building the book (profile: ${ATTENTION_PROFILE:-automatic})"
  local start=$SECONDS
  rm -rf _build  # a full, fresh build: every chapter is executed every time
  jupyter-book build . -W --keep-going --quiet
  echo "==> book built in $((SECONDS - start)) s: $ROOT/_build/html/index.html"
}

run_chapters() {
  # nbval over every chapter: jupytext converts the MyST sources into a temporary folder.
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  local chapters=()
  for f in book/*.md; do
    head -12 "$f" | grep -q 'format_name: myst' && chapters+=("$f")
  done
  for f in "${chapters[@]}"; do
    jupytext --quiet --to ipynb -o "$tmp/$(basename "${f%.md}").ipynb" "$f"
  done
  echo "==> running ${#chapters[@]} chapters under nbval (profile: ${ATTENTION_PROFILE:-automatic})"
  python -m pytest --nbval-lax -p no:cacheprovider --rootdir "$tmp" -o "testpaths=" "$tmp"
}

cmd=${1:-}
case "$cmd" in
  setup) setup ;;
  book) setup; build_book ;;
  test)
    setup
    echo "==> ruff"
    ruff check .
    echo "==> unit tests"
    python -m pytest tests --ignore=tests/book
    run_chapters
    build_book
    echo "==> checks of the built book"
    python -m pytest tests/book
    ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
