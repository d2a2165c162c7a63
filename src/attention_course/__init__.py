"""Attention, Step by Step: the tested code that the course's chapters import.

Modules are named after the concept they hold (``data``, ``config``, ``rnn``, ``attention``,
``layers``, ``models``, ``training``, ``plots``, ``grading``). Importing the package is cheap:
TensorFlow is only imported by the modules that need it.
"""

import os as _os
import sys as _sys

# Keep TensorFlow's C++ log lines (oneDNN notices, CUDA probing) out of notebooks and pages.
# Set before any module imports TensorFlow; a user's own setting wins. TensorFlow 2.21 prints
# its oneDNN notice before absl logging starts, ignoring TF_CPP_MIN_LOG_LEVEL: turning the
# oneDNN custom ops off is the only way to silence it (measured: no speed change for our models).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# On Keras' JAX backend, keep float64 arrays float64 (as NumPy, TensorFlow and PyTorch do)
# instead of truncating them to float32 with a warning. Models still train in float32
# (keras.config.floatx()); measured: no clear change in training speed.
_os.environ.setdefault("JAX_ENABLE_X64", "1")
if "jax" in _sys.modules and _os.environ["JAX_ENABLE_X64"].lower() in ("1", "true"):
    _sys.modules["jax"].config.update("jax_enable_x64", True)  # keras was imported first

__version__ = "0.1.0"
