"""Chapter 5's controlled comparison of review encoders, reusable by later chapters.

Every arm of the comparison is a :func:`~attention_course.models.build_review_classifier`
model that differs from the others only in its ``encoder``. Everything else is fixed by
:func:`settings_for` for the active profile and shared: the reviews (the profile's splits,
with the changes in :data:`SETTINGS`), the vocabulary, ``maxlen`` with ``truncating="pre"``
(each review keeps its last ``maxlen`` ids) and padding at the end, the embedding size, the
recurrent size, dropout, Adam's learning rate, the batch size, the epochs with the best
validation epoch restored (and early stopping after ``patience`` epochs without
improvement), length-bucketed batches, and the seeds. A later chapter trains its own arm
under the same settings with :func:`train_arm` and a ``build`` function of its own.

Saved results (``results.save_results(RESULTS_NAME, payload)``, built by :func:`payload`).
The payload holds :func:`attention_course.results.run_metadata` (``profile``, ``sizes``,
``num_words``, ``maxlen``, ``bucket_edges``) and:

``seeds``
    the seeds, in the order of every per-seed list below;
``settings``
    ``embedding_dim``, ``units``, ``dropout``, ``learning_rate``, ``epochs``, ``patience``,
    ``batch_size``, ``truncating``, ``padding``;
``test_lengths``
    each test review's length in ids before truncation (start marker included), (n_test,);
``test_labels``
    the test labels, 0/1, (n_test,);
``arms``
    ``{encoder: arm}``, where ``arm`` holds ``name`` (display name), ``correct`` (per seed, a
    list of n_test 0/1 values: was the review classified right), ``val_accuracy`` (per seed,
    the validation accuracy of the kept epoch), ``kept_epoch`` and ``epochs_run`` (per seed,
    1-based), ``val_history`` (per seed, the validation accuracy of every epoch run),
    ``seconds`` (per seed, wall-clock training time) and ``params`` (parameter count).

A later chapter reloads the payload with :func:`load`, checks
:func:`attention_course.results.mismatches` against its own run, and compares its arm with
the saved ones, seed by seed and review by review
(:func:`attention_course.stats.paired_difference` of the ``correct`` arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attention_course import results
from attention_course.config import DRY_RUN_SEEDS, Profile

RESULTS_NAME = "ch05_comparison"

SETTINGS: dict[str, dict] = {
    # changes: applied to the profile (data sizes, maxlen, epochs, batch size).
    # smoke: two seeds run every seed-level code path (CI's seconds, not a result).
    "smoke": dict(changes={}, seeds=(0, 1),
                  encoders=("bag_of_embeddings", "gru", "gru_mean", "gru_max",
                            "gru_attention"),
                  embedding_dim=32, units=32, dropout=0.5, learning_rate=3e-3,
                  patience=None),
    # cpu: chapter 5's 300 s and chapter 7's 240 s budgets on a 2-core CPU hold three seeds of
    # four arms (and of chapter 7's Transformer) for two epochs over the profile's 10,000
    # training reviews, cut to their last 200 ids, in batches of 128, the better epoch kept
    # (chapter 5 took 299 s). Two epochs do not bring every arm to convergence; chapter 5
    # measures it (`last_epoch_changes`) and says so. Measured: in the second epoch the bag of
    # embeddings gained about 4 points of validation accuracy and the last-state GRU 2-14,
    # while GRU + mean and GRU + attention moved by 1 point or less. Early stopping (patience
    # 1, up to 4 epochs) took the bag to 0.87, but the arms then cost about 1.5 times the
    # budget; 9,000 reviews saved no measurable time. Also tried: one epoch over all 20,000
    # reviews (266 s; one seed learned late, 0.80, and no epoch is chosen), two epochs over
    # all 20,000 at maxlen 400 (GRU + attention 0.866-0.877, about 1.5 times the budget), XLA
    # (jit_compile: slower on this CPU) and one TensorFlow thread (slower). The max-pooling
    # control runs in smoke and full only.
    "cpu": dict(changes=dict(batch_size=128),
                seeds=(0, 1, 2),
                encoders=("bag_of_embeddings", "gru", "gru_mean", "gru_attention"),
                embedding_dim=32, units=32, dropout=0.5, learning_rate=6e-3,
                patience=None),
    "full": dict(changes=dict(maxlen=800, batch_size=128, epochs=8), seeds=(0, 1, 2, 3, 4),
                 encoders=("bag_of_embeddings", "simple_rnn", "gru", "gru_mean", "gru_max",
                           "gru_attention", "bigru_attention"),
                 embedding_dim=128, units=64, dropout=0.5, learning_rate=1e-3,
                 patience=3),
}
"""Per-profile settings of the comparison (see :func:`settings_for`)."""


@dataclass(frozen=True)
class ComparisonSettings:
    """What every arm shares. ``profile`` fixes the data sizes, ``maxlen``, epochs, batch."""

    profile: Profile
    seeds: tuple[int, ...]
    encoders: tuple[str, ...]
    embedding_dim: int
    units: int
    dropout: float
    learning_rate: float
    patience: int | None
    truncating: str = "pre"
    padding: str = "post"

    def model_kwargs(self) -> dict:
        """The keyword arguments every arm's builder receives (besides the encoder)."""
        return dict(num_words=self.profile.num_words, embedding_dim=self.embedding_dim,
                    units=self.units, learning_rate=self.learning_rate, dropout=self.dropout)

    def as_dict(self) -> dict:
        """The shared training settings, JSON-ready (the payload's ``settings``)."""
        return dict(embedding_dim=self.embedding_dim, units=self.units,
                    dropout=self.dropout, learning_rate=self.learning_rate,
                    epochs=self.profile.epochs, patience=self.patience,
                    batch_size=self.profile.batch_size, truncating=self.truncating,
                    padding=self.padding)


def settings_for(profile: Profile) -> ComparisonSettings:
    """The comparison's settings in ``profile`` (a :class:`~attention_course.config.Profile`).

    A dry-run profile (``$ATTENTION_DRY_RUN``) keeps every arm and the first
    :data:`~attention_course.config.DRY_RUN_SEEDS` seeds.
    Raises ``ValueError`` for a profile name without settings in :data:`SETTINGS`.
    """
    if profile.name not in SETTINGS:
        raise ValueError(
            f"no comparison settings for profile {profile.name!r}; known: {', '.join(SETTINGS)}"
        )
    chosen = dict(SETTINGS[profile.name])
    run = profile.with_(**chosen.pop("changes"))
    if run.dry_run:
        chosen["seeds"] = chosen["seeds"][:DRY_RUN_SEEDS]
    return ComparisonSettings(profile=run, **chosen)


@dataclass
class ComparisonData:
    """The reviews every arm sees: padded int32 matrices (n, maxlen) and (n,) labels.

    ``test_lengths`` are the test reviews' lengths before truncation, (n_test,).
    """

    splits: object
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    test_lengths: np.ndarray

    @property
    def y_test(self) -> np.ndarray:
        return np.asarray(self.splits.y_test)


def prepare_data(settings: ComparisonSettings) -> ComparisonData:
    """Load the profile's splits and pad them as the comparison does (keep each review's end)."""
    from attention_course import data

    splits = data.load_splits(settings.profile)
    x_train, x_val, x_test = splits.padded(settings.profile.maxlen, padding=settings.padding,
                                           truncating=settings.truncating)
    return ComparisonData(splits, x_train, x_val, x_test, data.review_lengths(splits.x_test))


@dataclass
class ArmRun:
    """One trained arm for one seed, evaluated on the test reviews.

    ``probabilities`` (n_test,) float P(positive); ``correct`` (n_test,) bool;
    ``val_accuracy`` is the kept epoch's validation accuracy (chosen as the best over epochs,
    so biased upwards) and ``val_history`` that of every epoch run, in order; ``kept_epoch``
    and ``epochs_run`` are 1-based counts; ``seconds`` the wall-clock training time.
    ``shared_model`` is the Keras model that was trained and ``trained_weights`` its weights
    after this seed's training (None for a run reloaded from a payload); read them through
    :attr:`model`.
    """

    encoder: str
    seed: int
    probabilities: np.ndarray
    correct: np.ndarray
    val_accuracy: float
    kept_epoch: int
    epochs_run: int
    seconds: float
    params: int
    shared_model: object = field(default=None, repr=False)
    trained_weights: list | None = field(default=None, repr=False)
    val_history: tuple[float, ...] = ()

    @property
    def model(self):
        """The model with this seed's trained weights (None for a reloaded run).

        The seeds of an arm train one model in turn (:func:`train_seeds`), so reading
        ``model`` loads this seed's weights into it: a reference to the model read earlier for
        another seed then holds these weights too. Read ``run.model`` where it is used.
        """
        if self.shared_model is not None and self.trained_weights is not None:
            self.shared_model.set_weights(self.trained_weights)
        return self.shared_model

    @property
    def test_accuracy(self) -> float:
        return float(np.mean(self.correct))


def train_arm(encoder: str, seed: int, settings: ComparisonSettings, data: ComparisonData,
              build=None, verbose: int = 2, model=None) -> ArmRun:
    """Train (best validation epoch kept) and evaluate one arm with one seed.

    Without ``model`` the arm's model is built: ``build`` makes it from
    :meth:`ComparisonSettings.model_kwargs` (``num_words``, ``embedding_dim``, ``units``,
    ``learning_rate``, ``dropout``) and must return a compiled classifier with one sigmoid
    output; by default it is ``models.build_review_classifier(encoder, ...)``. The seed is set
    before building (same initial weights for the parts arms share) and shuffles the bucketed
    batches. With ``model`` (this arm's model, trained with another seed) the model starts
    again from the seed's initial weights (:func:`attention_course.models.reset_model`): the
    same run, without tracing Keras' training step again.
    """
    import keras

    from attention_course import batching, models, training

    if model is None:
        keras.utils.set_random_seed(seed)
        kwargs = settings.model_kwargs()
        model = (models.build_review_classifier(encoder, **kwargs) if build is None
                 else build(**kwargs))
    else:
        models.reset_model(model, seed)
    run = training.fit_model(
        model, ((data.x_train, data.splits.y_train), (data.x_val, data.splits.y_val)),
        settings.profile, bucket_by_length=True, seed=seed, patience=settings.patience,
        verbose=verbose)
    probabilities = batching.predict_by_length(model, data.x_test, settings.profile.batch_size)
    correct = (probabilities >= 0.5) == (data.y_test == 1)
    return ArmRun(encoder, seed, probabilities, correct, run.kept("val_accuracy"),
                  run.kept_epoch, run.epochs_run, run.seconds, model.count_params(), model,
                  [w.copy() for w in model.get_weights()],
                  val_history=tuple(run.history["val_accuracy"]))


def train_seeds(encoder: str, settings: ComparisonSettings, data: ComparisonData,
                build=None, verbose: int = 2) -> dict:
    """Train and evaluate ``encoder`` once per seed of ``settings``, with one model.

    Returns ``{(encoder, seed): ArmRun}``, in the order of ``settings.seeds``. The first seed
    builds the model (``build`` as in :func:`train_arm`); each later seed restarts it from its
    own initial weights, which gives the runs separately built models would give and traces
    Keras' training step once. Prints a header per seed when ``verbose``.
    """
    from attention_course.models import ENCODER_NAMES

    runs, model = {}, None
    for seed in settings.seeds:
        if verbose:
            print(f"--- {ENCODER_NAMES.get(encoder, encoder)}, seed {seed}")
        run = train_arm(encoder, seed, settings, data, build=build, verbose=verbose,
                        model=model)
        runs[encoder, seed], model = run, run.shared_model
    return runs


def correctness(runs: dict, encoder: str, seeds) -> np.ndarray:
    """0/1 correctness of ``encoder`` per seed and test review: shape (n_seeds, n_test).

    ``runs`` maps ``(encoder, seed)`` to an :class:`ArmRun`; rows follow ``seeds``.
    """
    missing = [seed for seed in seeds if (encoder, seed) not in runs]
    if missing:
        raise KeyError(f"no run of {encoder!r} for seeds {missing}")
    return np.stack([runs[encoder, seed].correct for seed in seeds]).astype(np.float64)


def summary_rows(runs: dict, settings: ComparisonSettings, names: dict | None = None,
                 level: float = 0.95) -> list[dict]:
    """One row per arm for a results table (:func:`attention_course.stats.results_table`).

    Keys: ``name``; ``val`` (kept epoch's validation accuracy, mean over seeds, with the
    seed range); ``kept`` (kept epochs per seed); ``test`` (test accuracy with its interval
    over seeds and reviews); ``params``; ``seconds`` (mean training time per seed).
    """
    from attention_course import stats
    from attention_course.models import ENCODER_NAMES

    names = names or ENCODER_NAMES
    rows = []
    for encoder in settings.encoders:
        arm = [runs[encoder, seed] for seed in settings.seeds]
        val = np.array([r.val_accuracy for r in arm])
        test = stats.mean_interval(correctness(runs, encoder, settings.seeds), level)
        rows.append({
            "name": names.get(encoder, encoder),
            "val": f"{val.mean():.3f} ({val.min():.3f}–{val.max():.3f})",
            "kept": ", ".join(str(r.kept_epoch) for r in arm),
            "test": f"{test.estimate:.3f} ({test.low:.3f}–{test.high:.3f})",
            "params": arm[0].params,
            "seconds": float(np.mean([r.seconds for r in arm])),
        })
    return rows


TABLE_COLUMNS = (
    ("name", "encoder", None),
    ("val", "validation acc., kept epoch (seed range)", None),
    ("kept", "kept epoch per seed", None),
    ("test", "test acc. (95% interval)", None),
    ("params", "parameters", ",d"),
    ("seconds", "training s per seed", ".0f"),
)
"""Columns of the chapter's results table, for :func:`attention_course.stats.results_table`."""


def validation_gap(runs: dict, settings: ComparisonSettings) -> dict:
    """How the kept epoch's validation accuracy compares with test accuracy, per arm.

    Returns ``gaps`` (``{encoder: mean over seeds of val - test}``, in accuracy units),
    ``mean`` (over arms), ``higher`` (how many arms had validation above test) and ``arms``.
    """
    gaps = {encoder: float(np.mean([runs[encoder, s].val_accuracy - runs[encoder, s].test_accuracy
                                    for s in settings.seeds]))
            for encoder in settings.encoders}
    values = np.array(list(gaps.values()))
    return {"gaps": gaps, "mean": float(values.mean()), "higher": int((values > 0).sum()),
            "arms": len(values)}


def last_epoch_changes(runs: dict, settings: ComparisonSettings, level: float = 0.01) -> dict:
    """How much each run's validation accuracy still moved in its last epoch.

    A check that a budget of epochs let the models level off: with ``val_history`` (per-epoch
    validation accuracy, see :class:`ArmRun`) of every arm and seed in ``settings``, returns
    ``changes`` (``{encoder: [last - previous epoch, per seed]}``, accuracy units; runs of one
    epoch have none), ``runs`` (how many runs have a change), ``rising`` (how many of those
    rose), ``largest`` (the largest absolute change, None without any), ``mean`` (their mean,
    None without any), ``kept_earlier`` (runs, of all, whose kept epoch came before their last),
    ``total`` (all runs), and ``levelled`` and ``moving``: the encoders whose last epoch moved
    validation accuracy by less than ``level`` (accuracy units; 0.01 is a point) on every
    seed, and the others (encoders without a change are in neither). Raises ``KeyError`` for
    a missing run, ``ValueError`` for a run without a validation history (a run reloaded from
    a payload saved before it had one).
    """
    changes, kept_earlier, total = {}, 0, 0
    for encoder in settings.encoders:
        changes[encoder] = []
        for seed in settings.seeds:
            if (encoder, seed) not in runs:
                raise KeyError(f"no run of {encoder!r} for seed {seed}")
            run = runs[encoder, seed]
            history = list(run.val_history)
            if len(history) != run.epochs_run:
                raise ValueError(
                    f"run of {encoder!r}, seed {seed}: {len(history)} validation accuracies "
                    f"for {run.epochs_run} epochs (no val_history recorded?)")
            if len(history) >= 2:
                changes[encoder].append(float(history[-1] - history[-2]))
            kept_earlier += run.kept_epoch < run.epochs_run
            total += 1
    flat = np.array([c for values in changes.values() for c in values])
    return {"changes": changes, "runs": int(flat.size), "rising": int((flat > 0).sum()),
            "largest": float(np.abs(flat).max()) if flat.size else None,
            "mean": float(flat.mean()) if flat.size else None,
            "kept_earlier": int(kept_earlier), "total": total,
            "levelled": [e for e, c in changes.items() if c and max(map(abs, c)) < level],
            "moving": [e for e, c in changes.items() if c and max(map(abs, c)) >= level]}


def payload(settings: ComparisonSettings, data: ComparisonData, runs: dict,
            names: dict | None = None) -> dict:
    """The JSON-ready record of the comparison (keys in this module's docstring)."""
    from attention_course.models import ENCODER_NAMES

    names = names or ENCODER_NAMES
    record = results.run_metadata(settings.profile, data.splits)
    arms = {}
    for encoder in settings.encoders:
        arm = [runs[encoder, seed] for seed in settings.seeds]
        arms[encoder] = {
            "name": names.get(encoder, encoder),
            "correct": [r.correct.astype(np.int8).tolist() for r in arm],
            "val_accuracy": [r.val_accuracy for r in arm],
            "kept_epoch": [r.kept_epoch for r in arm],
            "epochs_run": [r.epochs_run for r in arm],
            "val_history": [list(r.val_history) for r in arm],
            "seconds": [r.seconds for r in arm],
            "params": arm[0].params,
        }
    record.update(seeds=list(settings.seeds), settings=settings.as_dict(),
                  test_lengths=data.test_lengths.tolist(),
                  test_labels=data.y_test.astype(int).tolist(), arms=arms)
    return record


def save(record: dict):
    """Save a :func:`payload` as results :data:`RESULTS_NAME`; returns the file's path."""
    return results.save_results(RESULTS_NAME, record)


def load() -> dict | None:
    """The saved comparison (see this module's docstring), or None if none was saved."""
    return results.load_results(RESULTS_NAME)
