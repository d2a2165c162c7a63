"""Tests of attention_course.data: Keras-equivalent loading, integrity errors, padding, splits."""

import hashlib
import itertools
import shutil

import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from hypothesis import given

from attention_course import data
from attention_course.config import PROFILES


def _ragged(rows):
    out = np.empty(len(rows), dtype=object)
    out[:] = [[int(v) for v in r] for r in rows]
    return out


@pytest.fixture
def small_archive(tmp_path):
    """A hand-made imdb.npz (ragged word ranks, like the real file) with its SHA256SUMS."""
    rng = np.random.default_rng(0)
    x_train = _ragged([rng.integers(1, 40, size=rng.integers(1, 12)) for _ in range(30)])
    x_test = _ragged([rng.integers(1, 40, size=rng.integers(1, 12)) for _ in range(20)])
    y_train = rng.integers(0, 2, size=30)
    y_test = rng.integers(0, 2, size=20)
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  imdb.npz\n")
    return path


def _keras_load(monkeypatch, path, **kwargs):
    """Keras' own load_data on ``path``: its downloader is swapped for the local file."""
    monkeypatch.setitem(keras.datasets.imdb.load_data.__globals__, "get_file",
                        lambda *a, **k: str(path))
    return keras.datasets.imdb.load_data(**kwargs)


CASES = [
    {},
    {"num_words": 20},
    {"num_words": 25, "skip_top": 6},
    {"maxlen": 6},
    {"seed": 7, "num_words": 15},
    {"start_char": None},
    {"start_char": None, "index_from": 0},
    {"oov_char": None, "num_words": 18},
    {"index_from": 5, "start_char": 3, "oov_char": 4, "num_words": 30},
]


@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items())
                         or "defaults")
def test_load_imdb_matches_keras_load_data(small_archive, monkeypatch, kwargs):
    (kx_tr, ky_tr), (kx_te, ky_te) = _keras_load(monkeypatch, small_archive, **kwargs)
    (x_tr, y_tr), (x_te, y_te) = data.load_imdb(path=small_archive, **kwargs)
    for ours, theirs in ((x_tr, kx_tr), (x_te, kx_te)):
        assert ours.dtype == object and ours.shape == (len(theirs),)
        assert [list(a) for a in ours] == [list(b) for b in theirs]
    np.testing.assert_array_equal(y_tr, ky_tr)
    np.testing.assert_array_equal(y_te, ky_te)


def test_maxlen_that_keeps_nothing_raises_like_keras(small_archive):
    with pytest.raises(ValueError, match="Increase maxlen"):
        data.load_imdb(path=small_archive, maxlen=1)


def test_real_archive_has_keras_layout():
    (x_train, y_train), (x_test, y_test) = data.load_imdb(num_words=10_000)
    assert x_train.shape == y_train.shape == (25_000,)
    assert x_test.shape == y_test.shape == (25_000,)
    assert set(np.unique(y_train)) == {0, 1} and y_train.mean() == 0.5
    assert all(x[0] == data.START for x in x_train[:100])
    assert max(max(x) for x in x_train) == 9_999
    assert 4 in {w for x in x_train[:50] for w in x}  # rank 1 ("the") shifted by index_from


def test_decode_round_trip_of_known_words():
    index = data.imdb_word_index()
    words = ["the", "movie", "was", "great"]
    ids = [data.START] + [index[w] + 3 for w in words] + [data.OOV, 0, 0]
    assert data.decode(ids) == "[START] the movie was great [OOV]"
    assert data.decode(ids, skip_padding=False).endswith("[PAD] [PAD]")


def test_missing_file_error_names_file_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(data.DataFileError) as err:
        data.load_imdb()
    message = str(err.value)
    assert str(tmp_path / "imdb.npz") in message and "git checkout -- data/imdb" in message


def test_corrupted_file_error_says_expected_and_found(small_archive):
    blob = bytearray(small_archive.read_bytes())
    blob[100] ^= 0xFF
    small_archive.write_bytes(bytes(blob))
    with pytest.raises(data.DataFileError) as err:
        data.load_imdb(path=small_archive)
    message = str(err.value)
    assert "corrupted data file" in message and str(small_archive) in message
    assert hashlib.sha256(bytes(blob)).hexdigest() in message and "expected" in message
    assert "git checkout -- data/imdb" in message


def test_missing_checksum_file_is_an_error(small_archive):
    (small_archive.parent / "SHA256SUMS").unlink()
    with pytest.raises(data.DataFileError, match="SHA256SUMS"):
        data.load_imdb(path=small_archive)


def test_checksum_is_verified_once_then_rechecked_after_a_change(small_archive, tmp_path):
    data.load_imdb(path=small_archive)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(small_archive, copy / "imdb.npz")
    shutil.copy(small_archive.parent / "SHA256SUMS", copy / "SHA256SUMS")
    data.load_imdb(path=copy / "imdb.npz")
    with (copy / "imdb.npz").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(data.DataFileError, match="corrupted"):
        data.load_imdb(path=copy / "imdb.npz")


@pytest.mark.parametrize("padding,truncating", itertools.product(["pre", "post"], repeat=2))
def test_pad_reviews_matches_keras_pad_sequences(padding, truncating):
    seqs = [[1, 2, 3, 4, 5, 6, 7], [1, 8], [], [1, 9, 9, 9, 9]]
    ours = data.pad_reviews(seqs, 5, padding=padding, truncating=truncating)
    theirs = keras.utils.pad_sequences(seqs, 5, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.int32


def test_pad_reviews_rejects_bad_arguments():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        data.pad_reviews([[1]], 3, padding="middle")
    with pytest.raises(ValueError, match="truncating must be 'pre' or 'post'"):
        data.pad_reviews([[]], 3, truncating="end")  # Keras checks only on a non-empty review
    with pytest.raises(ValueError, match="maxlen must be 0 or more, got -1"):
        data.pad_reviews([[1]], -1)
    with pytest.raises(TypeError, match="maxlen must be an integer or None, got 2.5"):
        data.pad_reviews([[1]], 2.5)
    with pytest.raises(ValueError, match="no reviews to pad"):
        data.pad_reviews([])
    with pytest.raises(ValueError, match="review 1 must be a list of ids, got int"):
        data.pad_reviews([[1], 5])
    with pytest.raises(ValueError, match="review 0 does not fit dtype int8"):
        data.pad_reviews([[1, 300]], dtype="int8")
    with pytest.raises(ValueError, match="value 'x' does not fit dtype int32"):
        data.pad_reviews([[1]], value="x")


def test_pad_reviews_without_maxlen_pads_to_the_longest_review_like_keras():
    """Issue 14: maxlen=None raised a TypeError; Keras pads to the longest review."""
    reviews = [[1, 14, 22], [1, 5], [], [1, 7, 8, 9]]
    ours = data.pad_reviews(reviews, maxlen=None)
    np.testing.assert_array_equal(ours, keras.utils.pad_sequences(reviews, padding="post"))
    assert ours.shape == (4, 4) and ours.dtype == np.int32
    assert data.pad_reviews([[], []]).shape == (2, 0)


def test_pad_reviews_maxlen_zero_keeps_nothing():
    for truncating in ("pre", "post"):
        out = data.pad_reviews([[1, 2], []], 0, truncating=truncating)
        assert out.shape == (2, 0) and out.dtype == np.int32
    # Keras agrees for "post"; for "pre" it fails, as review[-0:] is the whole review.
    assert keras.utils.pad_sequences([[1, 2]], 0, truncating="post").shape == (1, 0)
    with pytest.raises(ValueError):
        keras.utils.pad_sequences([[1, 2]], 0, truncating="pre")


REVIEWS = st.lists(st.lists(st.integers(0, 2**31 - 1), max_size=9), max_size=6)


@given(
    reviews=REVIEWS | st.lists(st.lists(st.integers(-5, 200), max_size=4), max_size=3),
    maxlen=st.none() | st.integers(0, 11),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.integers(-2, 3) | st.floats(-2.5, 2.5, allow_nan=False),
    dtype=st.sampled_from(["int32", "int64", "int8", "float32", "float64"]),
    as_arrays=st.booleans(),
)
def test_pad_reviews_equals_keras_pad_sequences(reviews, maxlen, padding, truncating, value,
                                                dtype, as_arrays):
    """Same array (values, shape, dtype) as Keras for the same arguments, or both raise."""
    if as_arrays:
        reviews = [np.array(r, dtype=np.int64) for r in reviews]
    kwargs = dict(padding=padding, truncating=truncating, value=value, dtype=dtype)
    try:
        theirs = keras.utils.pad_sequences(reviews, maxlen, **kwargs)
    except (ValueError, TypeError, OverflowError):
        theirs = None
    if theirs is None and not (maxlen == 0 and truncating == "pre"):
        with pytest.raises((ValueError, TypeError)):
            data.pad_reviews(reviews, maxlen, **kwargs)
        return
    ours = data.pad_reviews(reviews, maxlen, **kwargs)
    if theirs is None:  # Keras' review[-0:] keeps the whole review: ours keeps none
        theirs = np.full((len(reviews), 0), value, dtype=dtype)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_padding_mask_marks_real_tokens():
    padded = data.pad_reviews([[1, 5], [1, 2, 3]], 4)
    np.testing.assert_array_equal(
        data.padding_mask(padded), [[True, True, False, False], [True, True, True, False]]
    )


def test_validation_split_is_fixed_and_disjoint():
    x = np.arange(100)
    y = x % 2
    (x_tr, y_tr), (x_val, y_val) = data.train_validation_split(x, y, 20)
    (x_tr2, _), (x_val2, _) = data.train_validation_split(x, y, 20)
    np.testing.assert_array_equal(x_val, x_val2)
    np.testing.assert_array_equal(x_tr, x_tr2)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert not set(x_tr) & set(x_val)
    np.testing.assert_array_equal(y_tr, x_tr % 2)
    with pytest.raises(ValueError, match="val_size"):
        data.train_validation_split(x, y, 100)
    with pytest.raises(ValueError, match="differ in length"):
        data.train_validation_split(x, y[:5], 10)


def test_held_out_reviews_never_train_whatever_the_validation_size():
    x = np.arange(100)
    y = x % 2
    (x_tr_small, _), (x_val_small, _) = data.train_validation_split(x, y, 10, held_out=30)
    (x_tr_large, _), (x_val_large, _) = data.train_validation_split(x, y, 30, held_out=30)
    np.testing.assert_array_equal(x_tr_small, x_tr_large)
    np.testing.assert_array_equal(x_val_small, x_val_large[:10])
    assert len(x_tr_small) == 70 and not set(x_tr_small) & set(x_val_large)
    with pytest.raises(ValueError, match="held_out"):
        data.train_validation_split(x, y, 20, held_out=10)
    with pytest.raises(ValueError, match="held_out"):
        data.train_validation_split(x, y, 20, held_out=100)


def test_profiles_fit_the_validation_pool():
    for profile in PROFILES.values():
        assert 0 < profile.val_size <= data.VALIDATION_POOL
    assert max(p.val_size for p in PROFILES.values()) == data.VALIDATION_POOL
    with pytest.raises(ValueError, match="held-out pool"):
        data.load_splits(PROFILES["smoke"].with_(val_size=data.VALIDATION_POOL + 1))


def test_load_splits_follows_the_profile_and_shares_validation_reviews():
    smoke, cpu = PROFILES["smoke"], PROFILES["cpu"]
    small = data.load_splits(smoke)
    assert small.sizes() == {"train": smoke.train_size, "validation": smoke.val_size,
                             "test": smoke.test_size}
    larger = data.load_splits(cpu)
    # the validation reviews are nested: smoke's are the first of cpu's
    assert ([list(x) for x in small.x_val]
            == [list(x) for x in larger.x_val[: smoke.val_size]])
    # and no profile trains on a review another profile validates on
    train_keys = {tuple(x) for x in larger.x_train} | {tuple(x) for x in small.x_train}
    assert not train_keys & {tuple(x) for x in larger.x_val}
    # the training reviews are the same too, cut to each profile's size
    assert ([list(x) for x in small.x_train]
            == [list(x) for x in larger.x_train[: smoke.train_size]])
    x_train, x_val, x_test = small.padded(smoke.maxlen)
    assert x_train.shape == (smoke.train_size, smoke.maxlen) and x_val.dtype == np.int32


def test_validation_split_drops_training_copies_of_validation_reviews():
    x = np.empty(6, dtype=object)
    x[:] = [[1, 5], [1, 6], [1, 5], [1, 7], [1, 8], [1, 5]]
    y = np.arange(6) % 2
    (x_tr, _), (x_val, _) = data.train_validation_split(x, y, 3)
    val_keys = {tuple(r) for r in x_val}
    assert not any(tuple(r) in val_keys for r in x_tr)
    (x_tr_all, _), _ = data.train_validation_split(x, y, 3, drop_leaks=False)
    assert len(x_tr_all) == 3 and len(x_tr) <= 3


def test_real_splits_have_no_validation_leak():
    splits = data.load_splits(PROFILES["cpu"])
    val_keys = {tuple(r) for r in splits.x_val}
    assert not any(tuple(r) in val_keys for r in splits.x_train)
    assert splits.leaks_dropped > 0
