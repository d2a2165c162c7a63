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

``ATTENTION_DRY_RUN=1`` makes a *dry run* of the chosen profile: its models and settings
(vocabulary, ``maxlen``, batch size, and whatever a chapter builds for that profile's name) on
the smoke profile's few hundred reviews, for one epoch. ``ATTENTION_PROFILE=full
ATTENTION_DRY_RUN=1`` thus executes on a CPU, in minutes, every code path that a GPU run of
the ``full`` profile would take (CI does).
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace

import numpy as np

ENV_VAR = "ATTENTION_PROFILE"
DRY_RUN_VAR = "ATTENTION_DRY_RUN"
# What a dry run caps: the smoke profile's sizes, one epoch (see the module docstring).
DRY_RUN_CAPS = {"train_size": 512, "val_size": 256, "test_size": 512, "epochs": 1}
DRY_RUN_SEEDS = 2
"""A dry run trains the first two seeds of a comparison: seed loops and seed-level statistics
run, without repeating every code path five times."""


@dataclass(frozen=True)
class Profile:
    """How much data and training a chapter uses.

    Sizes count reviews; ``None`` means "all that is available". ``maxlen`` is the number of
    tokens a review is padded or truncated to when it becomes a row of an int matrix.
    A ``dry_run`` profile keeps its sizes and epochs within :data:`DRY_RUN_CAPS`, in every
    copy made from it (``with_(train_size=None)`` stays capped).
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
    dry_run: bool = False

    def __post_init__(self):
        if self.dry_run:
            for field, cap in DRY_RUN_CAPS.items():
                value = getattr(self, field)
                object.__setattr__(self, field, cap if value is None else min(value, cap))

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


def dry_run_requested() -> bool:
    """True when ``$ATTENTION_DRY_RUN`` is set to 1/true/yes (case-insensitive).

    Raises ``ValueError`` for any other non-empty value (a typo would else run in full).
    """
    value = os.environ.get(DRY_RUN_VAR, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"${DRY_RUN_VAR} must be 1 or 0 (true/false, yes/no), got {value!r}")


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; else ``$ATTENTION_PROFILE``; else ``full`` on a GPU, ``cpu``.

    With ``$ATTENTION_DRY_RUN`` set, a dry run of it (:data:`DRY_RUN_CAPS`).
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
    profile = PROFILES[key]
    if dry_run_requested():
        profile = profile.with_(
            dry_run=True,
            description=f"dry run of {profile.name}'s models and settings: "
                        f"{DRY_RUN_CAPS['train_size']} training reviews, one epoch")
    return profile


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


# -- chapter 6: the encoder–decoder's sizes per profile ---------------------------------------


@dataclass(frozen=True)
class EncoderDecoderSettings:
    """Chapter 6's data and model sizes (the dates task of :mod:`attention_course.dates`).

    Sizes count examples (each holds 1 to ``max_dates`` dates); ``units`` is the size of each
    direction of the encoder (the decoder has ``2 * units``). ``seeds`` train the comparison
    of the model without attention and the model with the ``score`` attention;
    ``other_seeds`` train the ``other_scores`` (none: those are only checked against Keras).
    ``bucket_edges`` are the lower edges of the input-length buckets, in characters;
    ``gradient_examples`` the long test inputs whose gradients are measured.
    """

    train_size: int
    test_size: int
    max_dates: int
    embedding_dim: int
    units: int
    epochs: int
    batch_size: int
    learning_rate: float
    seeds: tuple[int, ...]
    score: str
    other_scores: tuple[str, ...]
    other_seeds: tuple[int, ...]
    bucket_edges: tuple[int, ...]
    gradient_examples: int

    def with_(self, **changes) -> EncoderDecoderSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)


ENCODER_DECODER: dict[str, EncoderDecoderSettings] = {
    "smoke": EncoderDecoderSettings(
        train_size=400, test_size=200, max_dates=2, embedding_dim=16, units=8, epochs=1,
        batch_size=64, learning_rate=1e-2, seeds=(0, 1), score="dot",
        other_scores=("general",), other_seeds=(0,), bucket_edges=(0, 15, 30),
        gradient_examples=8),
    # Sized for the 240 s budget of a 2-core CPU: few large batches (the recurrent loops
    # cost nearly as much per step whatever the batch), inputs of 1-2 dates (up to ~60
    # characters), fresh examples rather than more epochs, one traced model per arm
    # (models.reset_model). In trials with 1-3 dates, the model with attention learned the
    # longest inputs on some seeds only, and the whole page took about twice the budget;
    # 8,000 examples x 3 epochs (the same steps), 32 units, or batches of 192 (a third fewer
    # steps) learned them less often, and with 10,000 examples one seed decoded almost none of
    # them.
    # Chapter 6 turns off TensorFlow's graph rewriting (backend.skip_graph_rewrites): it
    # trains in about two thirds of the time.
    "cpu": EncoderDecoderSettings(
        train_size=12_000, test_size=1_000, max_dates=2, embedding_dim=32, units=64,
        epochs=2, batch_size=128, learning_rate=1e-2, seeds=(0, 1, 2), score="dot",
        other_scores=("additive", "general"), other_seeds=(),
        bucket_edges=(0, 15, 30, 40), gradient_examples=16),
    "full": EncoderDecoderSettings(
        train_size=60_000, test_size=5_000, max_dates=8, embedding_dim=64, units=128,
        epochs=8, batch_size=128, learning_rate=5e-3, seeds=(0, 1, 2), score="dot",
        other_scores=("additive", "general"), other_seeds=(0, 1, 2),
        bucket_edges=(0, 20, 40, 60, 80, 100, 120, 140), gradient_examples=256),
}


def encoder_decoder_settings(profile: Profile | str) -> EncoderDecoderSettings:
    """Chapter 6's :class:`EncoderDecoderSettings` for ``profile`` (a Profile or its name).

    For a dry-run profile (``$ATTENTION_DRY_RUN``) the models, scores and buckets stay the
    profile's; the example counts are capped at :data:`DRY_RUN_CAPS`, training lasts one epoch
    and the first :data:`DRY_RUN_SEEDS` seeds are trained (the first of ``other_seeds``).
    Raises ``ValueError`` for a profile without chapter 6 settings.
    """
    key = profile.name if isinstance(profile, Profile) else str(profile)
    if key not in ENCODER_DECODER:
        raise ValueError(f"unknown profile {key!r}; choose one of: {', '.join(ENCODER_DECODER)}")
    settings = ENCODER_DECODER[key]
    if getattr(profile, "dry_run", False):
        settings = settings.with_(
            train_size=min(settings.train_size, DRY_RUN_CAPS["train_size"]),
            test_size=min(settings.test_size, DRY_RUN_CAPS["test_size"]),
            epochs=1, gradient_examples=min(settings.gradient_examples, 8),
            seeds=settings.seeds[:DRY_RUN_SEEDS],
            # The other scores train through the same per-seed code as the main arms (whose
            # second seed runs here): one seed each runs their own code paths. Measured: they
            # took 170 s of the chapter's 342 s dry run with two seeds.
            other_seeds=settings.other_seeds[:1])
    return settings
