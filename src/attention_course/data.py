"""The IMDB reviews (Maas et al., 2011), read from the project's vendored copy.

``load_imdb`` has the semantics of ``keras.datasets.imdb.load_data`` (same arguments, same
shuffling, same start/out-of-vocabulary markers) but reads ``data/imdb/imdb.npz`` from this
repository and never downloads anything. The file's sha256 is checked against ``SHA256SUMS``
once per process.

Shapes: ``x_*`` are 1-D object arrays of Python lists of word ids (ragged: one list per review),
``y_*`` are 1-D int arrays of 0 (negative) / 1 (positive).

Validation reviews (:func:`load_splits`): a fixed set of :data:`VALIDATION_POOL` training
reviews, drawn with :data:`VALIDATION_SEED`, is held out of training in every profile. A
profile validates on the first ``profile.val_size`` of them (all 5,000 in ``full``, 2,500 in
``cpu``, 256 in ``smoke``), so a smaller profile's validation reviews are a subset of a larger
one's, and no review is ever trained on in one profile and validated on in another. The
training reviews are drawn from the remaining ones; the test split is Keras' own.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "ATTENTION_DATA_DIR"
ARCHIVE = "imdb.npz"
WORD_INDEX = "imdb_word_index.json"
CHECKSUMS = "SHA256SUMS"
VALIDATION_SEED = 1337
# Training reviews held out for validation in every profile (the largest ``val_size``).
VALIDATION_POOL = 5_000
PAD, START, OOV = 0, 1, 2
RESTORE_HINT = (
    "Restore it from the repository with `git checkout -- data/imdb` (or copy the folder "
    "data/imdb from a fresh clone); set ${var} to use a copy elsewhere."
).replace("${var}", DATA_ENV_VAR)


class DataFileError(OSError):
    """A data file is missing, unreadable or does not match its recorded sha256."""


def data_dir() -> Path:
    """The folder holding the IMDB files: ``$ATTENTION_DATA_DIR``, else ``<repo>/data/imdb``."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data" / "imdb"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_sums(folder: Path) -> dict[str, str]:
    sums_file = folder / CHECKSUMS
    if not sums_file.is_file():
        raise DataFileError(
            f"missing checksum file {sums_file}: expected a '{CHECKSUMS}' file listing the "
            f"sha256 of each data file. {RESTORE_HINT}"
        )
    sums = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


_VERIFIED: set[tuple[str, int, int]] = set()


def verified_path(name: str, folder: Path | None = None) -> Path:
    """The path of data file ``name`` after checking it exists and matches ``SHA256SUMS``.

    The check runs once per file per process (it is repeated if the file changes on disk).
    Raises :class:`DataFileError` naming the file, what was expected and how to restore it.
    """
    folder = Path(folder) if folder is not None else data_dir()
    path = folder / name
    if not path.is_file():
        raise DataFileError(f"missing data file {path}. {RESTORE_HINT}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return path
    expected = _expected_sums(folder).get(name)
    if expected is None:
        raise DataFileError(f"{folder / CHECKSUMS} has no sha256 for {name}. {RESTORE_HINT}")
    found = _sha256(path)
    if found != expected:
        raise DataFileError(
            f"corrupted data file {path}: sha256 is {found}, expected {expected} "
            f"(from {folder / CHECKSUMS}). {RESTORE_HINT}"
        )
    _VERIFIED.add(key)
    return path


def _read_archive(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=True) as archive:
            return (archive["x_train"], archive["y_train"], archive["x_test"], archive["y_test"])
    except (OSError, ValueError, KeyError) as err:
        raise DataFileError(
            f"cannot read {path} as an IMDB archive with arrays x_train, y_train, x_test, "
            f"y_test: {err}. {RESTORE_HINT}"
        ) from err


def _as_object_array(seqs: list[list[int]]) -> np.ndarray:
    out = np.empty(len(seqs), dtype=object)
    out[:] = seqs
    return out


def load_imdb(
    path: str | os.PathLike | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = START,
    oov_char: int | None = OOV,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load IMDB exactly as ``keras.datasets.imdb.load_data`` would, from the vendored file.

    Args:
        path: an ``imdb.npz`` to read (it must sit beside a ``SHA256SUMS`` that lists it);
            default ``data_dir() / "imdb.npz"``.
        num_words: keep the ``num_words`` most frequent word ids (after ``index_from``);
            rarer words become ``oov_char`` (or are dropped when ``oov_char`` is None).
        skip_top: ids below ``skip_top`` also become ``oov_char`` (start marker included,
            as in Keras).
        maxlen: drop reviews whose length (with the start marker) is ``>= maxlen``.
        seed: seed of the shuffle applied to train and test.
        start_char, oov_char, index_from: the markers; word rank ``r`` becomes ``r + index_from``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` of shape (n,) holding lists of ids,
        ``y`` of shape (n,) holding 0/1 labels.
    """
    if path is None:
        archive_path = verified_path(ARCHIVE)
    else:
        archive_path = verified_path(Path(path).name, Path(path).parent)
    x_train, labels_train, x_test, labels_test = _read_archive(archive_path)

    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, labels_train = x_train[order], labels_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, labels_test = x_test[order], labels_test[order]

    prefix = [] if start_char is None else [start_char]
    x_train = [prefix + [w + index_from for w in x] for x in x_train]
    x_test = [prefix + [w + index_from for w in x] for x in x_test]

    if maxlen:
        keep_train = [i for i, x in enumerate(x_train) if len(x) < maxlen]
        keep_test = [i for i, x in enumerate(x_test) if len(x) < maxlen]
        if not keep_train or not keep_test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence "
                "was kept. Increase maxlen."
            )
        x_train = [x_train[i] for i in keep_train]
        labels_train = labels_train[keep_train]
        x_test = [x_test[i] for i in keep_test]
        labels_test = labels_test[keep_test]

    xs = x_train + x_test
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]

    split = len(x_train)
    return (
        (_as_object_array(xs[:split]), np.asarray(labels_train)),
        (_as_object_array(xs[split:]), np.asarray(labels_test)),
    )


def imdb_word_index(path: str | os.PathLike | None = None) -> dict[str, int]:
    """``{word: rank}`` for the vendored archive (rank 1 = most frequent word)."""
    if path is None:
        file = verified_path(WORD_INDEX)
    else:
        file = verified_path(Path(path).name, Path(path).parent)
    with file.open(encoding="utf-8") as handle:
        return json.load(handle)


def inverted_word_index(
    word_index: dict[str, int] | None = None, index_from: int = 3
) -> dict[int, str]:
    """``{id: word}`` for ids as ``load_imdb`` returns them, with the marker ids named."""
    word_index = imdb_word_index() if word_index is None else word_index
    inverted = {rank + index_from: word for word, rank in word_index.items()}
    inverted.update({PAD: "[PAD]", START: "[START]", OOV: "[OOV]"})
    return inverted


def decode(ids, vocabulary: dict[int, str] | None = None, skip_padding: bool = True) -> str:
    """Turn one review's ids (a list or a 1-D array) back into words separated by spaces.

    ``vocabulary`` is an :func:`inverted_word_index` (built once and cached if not given).
    Padding (id 0) is left out unless ``skip_padding`` is False.
    """
    vocabulary = vocabulary if vocabulary is not None else _default_vocabulary()
    words = []
    for token in np.asarray(ids).ravel().tolist():
        if token == PAD and skip_padding:
            continue
        words.append(vocabulary.get(int(token), f"[?{token}]"))
    return " ".join(words)


_DEFAULT_VOCABULARY: dict[int, str] = {}


def _default_vocabulary() -> dict[int, str]:
    if not _DEFAULT_VOCABULARY:
        _DEFAULT_VOCABULARY.update(inverted_word_index())
    return _DEFAULT_VOCABULARY


def pad_reviews(
    sequences, maxlen: int | None = None, *, padding: str = "post", truncating: str = "post",
    value=PAD, dtype="int32",
) -> np.ndarray:
    """Pad/truncate ragged id lists into a matrix of shape (n, maxlen), dtype ``dtype``.

    ``keras.utils.pad_sequences`` with the same arguments gives the same array, except for
    the defaults: here ``padding`` and ``truncating`` default to ``"post"`` (Keras: ``"pre"``),
    the layout the course uses. ``truncating="post"`` keeps a review's first ``maxlen`` ids
    (its opening, with the start marker); ``"pre"`` keeps its last ones. ``padding`` says on
    which side ``value`` fills a shorter review. ``maxlen=None`` pads to the longest review;
    ``maxlen=0`` gives shape (n, 0) (where Keras, for ``truncating="pre"``, fails because
    ``review[-0:]`` is the whole review). Empty reviews become rows of ``value``. Reviews may
    be lists, tuples or arrays; a review of vectors pads to (n, maxlen, *vector shape), as in
    Keras.

    Raises ``ValueError`` for an unknown side, a negative ``maxlen``, no reviews with
    ``maxlen=None``, a review whose ids do not fit ``dtype``, or reviews of differently shaped
    elements; ``TypeError`` for a ``maxlen`` that is not an integer.
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in ("pre", "post"):
            raise ValueError(f"{name} must be 'pre' or 'post', got {side!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"sequences must be a list of reviews (lists of ids), got {type(sequences).__name__}"
        )
    lengths = []
    for i, seq in enumerate(sequences):
        if not hasattr(seq, "__len__") or isinstance(seq, (str, bytes)):
            raise ValueError(f"review {i} must be a list of ids, got {type(seq).__name__}")
        lengths.append(len(seq))
    if maxlen is None:
        if not lengths:
            raise ValueError("no reviews to pad: with maxlen=None the length of the longest "
                             "review is the width, so pass maxlen for an empty list")
        maxlen = max(lengths)
    if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)):
        raise TypeError(f"maxlen must be an integer or None, got {maxlen!r}")
    if maxlen < 0:
        raise ValueError(f"maxlen must be 0 or more, got {maxlen}")
    # Elements may be vectors (Keras allows it): their shape comes from the first non-empty one.
    first = next((seq for seq, n in zip(sequences, lengths, strict=True) if n), [])
    element_shape = np.asarray(first).shape[1:] if len(first) else ()
    try:
        out = np.full((len(sequences), maxlen, *element_shape), value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"value {value!r} does not fit dtype {np.dtype(dtype)}: {err}") from err
    for row, (seq, n) in enumerate(zip(sequences, lengths, strict=True)):
        kept = seq[:maxlen] if truncating == "post" else seq[max(n - maxlen, 0):]
        if not len(kept):
            continue
        try:
            kept = np.asarray(kept, dtype=out.dtype)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"review {row} does not fit dtype {out.dtype}: {err}") from err
        if kept.shape[1:] != element_shape:
            raise ValueError(
                f"review {row} holds elements of shape {kept.shape[1:]}, the first non-empty "
                f"review elements of shape {element_shape}"
            )
        if padding == "post":
            out[row, : len(kept)] = kept
        else:
            out[row, maxlen - len(kept):] = kept
    return out


def padding_mask(padded: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``padded.shape``: True where a real token is, False on padding."""
    return np.asarray(padded) != PAD


def review_lengths(sequences) -> np.ndarray:
    """Length (number of ids, start marker included) of each review, shape (n,)."""
    return np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))


def _review_key(review):
    """A hashable identity of one review (its ids), for finding exact duplicates."""
    return tuple(review) if hasattr(review, "__len__") else review


def train_validation_split(x, y, val_size: int, seed: int = VALIDATION_SEED,
                           drop_leaks: bool = True, held_out: int | None = None):
    """Split the training reviews into a fixed train part and a validation part.

    A permutation drawn from ``seed`` orders the reviews; the first ``held_out`` of them
    (default ``val_size``) are kept out of the train part, and the first ``val_size`` of
    those are the validation reviews. The split depends only on ``seed``, ``held_out`` and
    the number of reviews, so a fixed ``held_out`` gives every ``val_size`` up to it the same
    train part and nested validation parts. IMDB holds a few exact duplicate reviews; with
    ``drop_leaks`` a training review identical to a held-out review is dropped from the
    train part, so validation accuracy is never inflated by reviews the model trained on.
    Returns ``(x_train, y_train), (x_val, y_val)``. Raises ``ValueError`` when ``x`` and
    ``y`` differ in length or when ``val_size <= held_out < len(x)`` does not hold.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y differ in length: {n} reviews vs {len(y)} labels")
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1}, got {val_size}")
    held_out = val_size if held_out is None else held_out
    if not val_size <= held_out < n:
        raise ValueError(
            f"held_out must be at least val_size={val_size} and below {n} reviews, "
            f"got {held_out}"
        )
    order = np.random.RandomState(seed).permutation(n)
    val, train = order[:val_size], order[held_out:]
    if drop_leaks:
        seen = {_review_key(x[i]) for i in order[:held_out]}
        train = np.array([i for i in train if _review_key(x[i]) not in seen], dtype=np.int64)
    return (x[train], y[train]), (x[val], y[val])


@dataclass
class ImdbSplits:
    """Train / validation / test reviews for one profile (ragged id lists and 0/1 labels).

    ``leaks_dropped`` counts the training reviews left out because they are exact copies of
    a held-out (validation pool) review.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_words: int
    leaks_dropped: int = 0

    def padded(self, maxlen: int, padding: str = "post", truncating: str = "post"):
        """The three splits as int32 matrices (n, maxlen): ``(x_train, x_val, x_test)``."""
        return tuple(
            pad_reviews(x, maxlen, padding=padding, truncating=truncating)
            for x in (self.x_train, self.x_val, self.x_test)
        )

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def load_splits(profile) -> ImdbSplits:
    """The course's standard splits for a :class:`~attention_course.config.Profile`.

    The same :data:`VALIDATION_POOL` training reviews (fixed by :data:`VALIDATION_SEED`) are
    held out of training in every profile, and the profile validates on the first
    ``profile.val_size`` of them (:func:`train_validation_split`, which also drops training
    copies of held-out reviews). The training part and the test split are then cut to the
    profile's sizes (the test split is already shuffled by ``load_imdb``). Raises
    ``ValueError`` when ``profile.val_size`` exceeds the pool.
    """
    if not 0 < profile.val_size <= VALIDATION_POOL:
        raise ValueError(
            f"profile {profile.name!r} asks for {profile.val_size} validation reviews; the "
            f"held-out pool has {VALIDATION_POOL}"
        )
    (x_all, y_all), (x_test, y_test) = load_imdb(num_words=profile.num_words)
    (x_train, y_train), (x_val, y_val) = train_validation_split(
        x_all, y_all, profile.val_size, held_out=VALIDATION_POOL)
    leaks_dropped = len(x_all) - VALIDATION_POOL - len(x_train)
    if profile.train_size is not None:
        x_train, y_train = x_train[: profile.train_size], y_train[: profile.train_size]
    if profile.test_size is not None:
        x_test, y_test = x_test[: profile.test_size], y_test[: profile.test_size]
    return ImdbSplits(x_train, y_train, x_val, y_val, x_test, y_test, profile.num_words,
                      leaks_dropped)
