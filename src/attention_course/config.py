"""Run profiles, device detection and seeding.

Every chapter runs in one of three profiles:

``smoke``
    a few hundred reviews and one epoch: each chapter runs in seconds (CI).
``cpu``
    the default without a GPU: each chapter runs within a few minutes on a 2-core laptop.
``full``
    the default when the active Keras backend (``KERAS_BACKEND``: TensorFlow, JAX or
    PyTorch) sees a GPU: all the data and longer training.

``ATTENTION_PROFILE=smoke|cpu|full`` overrides the automatic choice.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace

import numpy as np

ENV_VAR = "ATTENTION_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much data and training a chapter uses.

    Sizes count reviews; ``None`` means "all that is available". ``maxlen`` is the number of
    tokens a review is padded or truncated to when it becomes a row of an int matrix.
    """

    name: str
    num_words: int
    maxlen: int
    train_size: int | None
    val_size: int
    test_size: int | None
    epochs: int
    batch_size: int
    description: str

    def as_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> Profile:
        """A copy with some fields changed (for a chapter that needs, say, fewer epochs)."""
        return replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", num_words=10_000, maxlen=100, train_size=512, val_size=256,
        test_size=512, epochs=1, batch_size=64,
        description="a few hundred reviews, one epoch: seconds per chapter (CI)",
    ),
    "cpu": Profile(
        name="cpu", num_words=10_000, maxlen=200, train_size=10_000, val_size=2_500,
        test_size=5_000, epochs=2, batch_size=64,
        description="a laptop CPU: each chapter within a few minutes",
    ),
    "full": Profile(
        name="full", num_words=20_000, maxlen=400, train_size=None, val_size=5_000,
        test_size=None, epochs=8, batch_size=128,
        description="a GPU: all 25,000 test reviews, longer sequences and training",
    ),
}


def gpu_available() -> bool:
    """True when the active Keras backend computes on a GPU (:mod:`attention_course.backend`)."""
    from attention_course import backend

    return backend.gpu_available()


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; else ``$ATTENTION_PROFILE``; else ``full`` on a GPU, ``cpu``.

    Raises ``ValueError`` for an unknown name, listing the known ones.
    """
    name = name or os.environ.get(ENV_VAR, "").strip() or None
    if name is None:
        name = "full" if gpu_available() else "cpu"
    key = name.lower()
    if key not in PROFILES:
        known = ", ".join(PROFILES)
        source = f"${ENV_VAR}" if name == os.environ.get(ENV_VAR, "").strip() else "argument"
        raise ValueError(f"unknown profile {name!r} (from {source}); choose one of: {known}")
    return PROFILES[key]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and the Keras backend's random generators."""
    import keras

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (legacy global generator, used by older code)
    keras.utils.set_random_seed(seed)


def device_description() -> str:
    """Where the active Keras backend computes, e.g. ``CPU (2 cores, x86_64)``."""
    from attention_course import backend

    return backend.device_description()


def runtime_summary(profile: Profile) -> str:
    """Three short lines naming the profile, the device and the library versions."""
    from attention_course import backend

    return (
        f"profile: {profile.name} ({profile.description})\n"
        f"device: {device_description()}\n"
        f"{backend.versions()}"
    )


def setup(seed: int = 0, profile: str | None = None, show: bool = True) -> Profile:
    """The first call of every chapter: choose the profile, seed everything, say where we run.

    Returns the active :class:`Profile`.
    """
    active = get_profile(profile)
    seed_everything(seed)
    if show:
        print(runtime_summary(active))
    return active
