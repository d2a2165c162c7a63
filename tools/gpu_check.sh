#!/usr/bin/env bash
# Execute every chapter in the `full` profile on a machine with an NVIDIA GPU; print each
# chapter's wall time and key accuracies (glued values), and fail on any error or if the
# Keras backend does not see a GPU.
#
# Usage: tools/gpu_check.sh [jax|tensorflow|torch] [book/NN_name.md ...]
#   The backend defaults to jax (GPU machines often carry JAX and PyTorch, not TensorFlow).
#   PYTHON=/path/to/python picks the interpreter (default: .venv/bin/python, else python3);
#   it needs keras, the backend's GPU build (e.g. jax[cuda12]), jupytext, nbclient, ipykernel,
#   myst-nb, and this package: `pip install -e ".[book]"` next to the GPU libraries.
#   ATTENTION_DRY_RUN=1 rehearses the script on a CPU (smoke-sized data, one epoch, no GPU
#   required); chapters run the full profile's models and settings either way.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-jax}
[ $# -gt 0 ] && shift
case "$backend" in
  jax|tensorflow|torch) ;;
  *) echo "gpu_check: unknown backend '$backend' (jax, tensorflow or torch)" >&2; exit 2 ;;
esac
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export KERAS_BACKEND=$backend ATTENTION_PROFILE=full
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# The notebook kernel must be this interpreter, whatever kernels the machine has.
"$PYTHON" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
export JUPYTER_PATH="$("$PYTHON" -c 'import sys; print(sys.prefix)')/share/jupyter"
missing=$("$PYTHON" - "$backend" <<'PY'
import importlib.util, sys
needed = ["keras", {"tensorflow": "tensorflow"}.get(sys.argv[1], sys.argv[1]),
          "jupytext", "nbclient", "ipykernel", "myst_nb", "attention_course"]
print(" ".join(m for m in needed if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: $PYTHON lacks: $missing (see the usage lines at the top of $0)" >&2
  exit 1
fi
"$PYTHON" -m attention_course.cli profile | sed -n '1,3p'
if ! "$PYTHON" -c 'import sys; from attention_course import backend
sys.exit(0 if backend.gpu_available() else 1)'; then
  case "${ATTENTION_DRY_RUN:-0}" in
    1|true|yes) echo "gpu_check: no GPU; dry run on the CPU" ;;
    *) echo "gpu_check: the $backend backend sees no GPU" >&2; exit 1 ;;
  esac
fi
start=$SECONDS
"$PYTHON" tools/time_chapters.py --profile full --report "$@"
echo "gpu_check: every chapter ran in the full profile on $backend in $((SECONDS - start)) s"
