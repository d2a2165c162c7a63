"""The dates task of chapter 6: generator, formats, vocabularies and known alignment."""

import datetime as dt

import numpy as np
import pytest

from attention_course import dates


def test_same_seed_same_examples_other_seed_others():
    a = dates.make_examples(50, seed=3)
    b = dates.make_examples(50, seed=3)
    c = dates.make_examples(50, seed=4)
    assert a.sources == b.sources and a.targets == b.targets
    assert a.sources != c.sources


def test_targets_are_the_iso_dates_of_the_sources():
    examples = dates.make_examples(300, max_dates=4, seed=1)
    for source, target, days, formats in zip(examples.sources, examples.targets,
                                             examples.dates, examples.formats, strict=True):
        assert target == " ".join(d.isoformat() for d in days)
        assert len(formats) == len(days) == source.count("; ") + 1
        for d in days:
            assert str(d.year) in source


def test_number_of_dates_and_lengths_span_the_requested_range():
    examples = dates.make_examples(2000, min_dates=1, max_dates=5, seed=0)
    assert set(examples.n_dates) == {1, 2, 3, 4, 5}
    lengths = examples.source_lengths
    assert lengths.min() <= 12 and lengths.max() >= 100


@pytest.mark.parametrize("fmt", dates.FORMATS)
def test_every_format_renders_its_fields_where_it_says(fmt):
    day = dt.date(1998, 3, 3)  # a Tuesday
    for case in dates.CASES:
        text, spans = dates.render(day, fmt, case)
        year, month, dom = (text[slice(*spans[f])] for f in dates.FIELDS)
        assert year == "1998"
        assert month.lower() in ("03", "mar", "march")
        assert dom in ("3", "03")
        if "EEE" in fmt:
            assert text.lower().startswith("tue")


def test_examples_of_formats():
    day = dt.date(2021, 7, 4)
    assert dates.render(day, "mm/dd/yyyy")[0] == "07/04/2021"
    assert dates.render(day, "dd.mm.yyyy")[0] == "04.07.2021"
    assert dates.render(day, "the dth of MMMM yyyy", "upper")[0] == "THE 4TH OF JULY 2021"
    assert dates.render(dt.date(2021, 7, 22), "MMMM dth, yyyy")[0] == "July 22nd, 2021"
    assert dates.render(dt.date(2021, 7, 11), "MMMM dth, yyyy")[0] == "July 11th, 2021"
    assert dates.render(day, "EEEE, d MMMM yyyy", "lower")[0] == "sunday, 4 july 2021"


def test_alignment_points_each_target_digit_at_its_source_field():
    examples = dates.make_examples(200, max_dates=5, seed=2)
    for i in range(len(examples)):
        source, target = examples.sources[i], examples.targets[i]
        matrix = examples.alignment(i)
        assert matrix.shape == (len(target) + 1, len(source))
        assert not matrix[-1].any()  # <end>
        for row, char in zip(matrix, target, strict=False):
            if char == "-":
                assert not row.any()
            elif char == " ":
                assert "".join(np.array(list(source))[row]) == "; "
            else:
                assert row.any()
        # the year digits point at the same four digits of the source, in order
        for j, d in enumerate(examples.dates[i]):
            year_row = matrix[j * 11]
            assert "".join(np.array(list(source))[year_row]) == f"{d.year:04d}"


def test_vocabularies_round_trip_and_mark_start_and_end():
    examples = dates.make_examples(100, seed=5)
    source = dates.SOURCE_VOCABULARY.encode(examples.sources)
    assert source.dtype == np.int32 and source.shape == (100, examples.source_lengths.max())
    assert dates.SOURCE_VOCABULARY.decode(source) == list(examples.sources)
    target = dates.TARGET_VOCABULARY
    ids = target.encode(examples.targets, start=True, end=True)
    assert np.all(ids[:, 0] == target.id("<start>"))
    assert target.decode(ids) == list(examples.targets)
    assert target.decode([[5, 6, target.id("<end>"), 7]]) == [
        target.tokens[5] + target.tokens[6]]


def test_vocabulary_errors_are_clear():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        dates.SOURCE_VOCABULARY.encode(["3 März 1998"])
    with pytest.raises(ValueError, match="single string"):
        dates.SOURCE_VOCABULARY.encode("1998")
    with pytest.raises(ValueError, match="length is 3"):
        dates.SOURCE_VOCABULARY.encode(["1998"], length=3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 15\)"):
        dates.TARGET_VOCABULARY.decode([[99]])
    with pytest.raises(ValueError, match="not in this vocabulary"):
        dates.SOURCE_VOCABULARY.encode(["1998"], start=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=-1), "n must be at least 0"),
    (dict(n=5, min_dates=0), "at least one date"),
    (dict(n=5, min_dates=3, max_dates=2), "max_dates"),
    (dict(n=5, first_year=999), "four digits"),
    (dict(n=5, first_year=2000, last_year=1999), "first_year"),
    (dict(n=5, formats=["dd/mm/yy"]), "unknown"),
    (dict(n=5, formats=[]), "empty"),
    (dict(n=2.5), "integer"),
])
def test_impossible_requests_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dates.make_examples(**kwargs)


def test_splits_are_disjoint_and_of_the_asked_size():
    splits = dates.make_splits({"train": 500, "val": 50, "test": 200}, max_dates=3, seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 500, "val": 50, "test": 200}
    train = set(splits["train"].sources)
    assert not train & set(splits["test"].sources)
    assert not train & set(splits["val"].sources)


def test_splits_too_large_for_the_settings_raise():
    # One format, one year, one date per input: at most 365 × 3 cases distinct inputs.
    with pytest.raises(ValueError, match="too few distinct inputs"):
        dates.make_splits({"train": 2000}, max_dates=1, formats=["dd.mm.yyyy"],
                          first_year=2001, last_year=2001)


def test_subset_and_lengths():
    examples = dates.make_examples(20, seed=0)
    part = examples.subset(examples.n_dates == 1)
    assert all(n == 1 for n in part.n_dates)
    assert len(examples.subset([3, 1])) == 2
    with pytest.raises(ValueError, match="boolean index"):
        examples.subset(np.array([True, False]))


def test_cases_can_be_restricted():
    examples = dates.make_examples(200, seed=3, cases=["lower"])
    assert all(s == s.lower() for s in examples.sources)
    with pytest.raises(ValueError, match="cases must be"):
        dates.make_examples(5, cases=["camel"])
