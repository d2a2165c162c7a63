"""Chapter 6's task: dates written in many human-readable formats, rewritten in ISO 8601.

An input holds 1 to k dates separated by ``"; "``, each in one of :data:`FORMATS` (and in title
case, lower case or upper case); its target holds the same dates as ``YYYY-MM-DD``, separated
by single spaces::

    "Tuesday, 3 March 1998; 07/04/2021"  ->  "1998-03-03 2021-07-04"

Why this task: it is generated offline and exactly reproducible from a seed; the input length
grows with the number of dates, from about 10 characters to well over 100, while the
difficulty of each date stays the same; and the right alignment is known. Every character of
the target comes from one *field* of the input (the year, the month written as a name or a
number, the day), so an attention weight can be checked against it
(:meth:`DateExamples.alignment`). The formats need a model to reorder fields (day first,
month first, year first), to translate month names into numbers and to skip what carries no
information (weekdays, "the", "of", ordinal suffixes); numeric formats are unambiguous by
their separator (``dd.mm.yyyy`` is European, ``mm/dd/yyyy`` American, ``yyyy/mm/dd`` year
first).

Shapes and types: texts are Python ``str``; :meth:`Vocabulary.encode` returns an int32 matrix
(n, T), padded with 0 at the end; lengths are counted in characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CASES",
    "DATE_SEPARATOR",
    "DateExamples",
    "FIELDS",
    "FORMATS",
    "LENGTH_BUCKETS",
    "SOURCE_VOCABULARY",
    "TARGET_SEPARATOR",
    "TARGET_VOCABULARY",
    "Vocabulary",
    "make_examples",
    "make_splits",
    "to_iso",
]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DATE_SEPARATOR = "; "
"""What separates two dates in an input."""
TARGET_SEPARATOR = " "
"""What separates two ISO dates in a target."""
FIELDS = ("year", "month", "day")
"""The parts of a date that the target's digits come from."""
CASES = ("title", "lower", "upper")
"""How the words of a date may be written: "March", "march" or "MARCH"."""

# Lower edges of chapter 6's input-length buckets, in characters: <20 holds single dates only,
# 100+ holds four or more.
LENGTH_BUCKETS: tuple[int, ...] = (0, 20, 40, 60, 80, 100)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


# A format turns a date into pieces (text, field): field is "year", "month", "day" or None for
# text that carries no information of its own (punctuation, weekdays, "the", suffixes).
# Arguments: y "1998", m 3, d 3, month "March", weekday "Tuesday".
_LAYOUTS = {
    "d MMMM yyyy": lambda y, m, d, month, wd: [
        (str(d), "day"), (" ", None), (month, "month"), (" ", None), (y, "year")],
    "MMMM d, yyyy": lambda y, m, d, month, wd: [
        (month, "month"), (" ", None), (str(d), "day"), (", ", None), (y, "year")],
    "d MMM yyyy": lambda y, m, d, month, wd: [
        (str(d), "day"), (" ", None), (month[:3], "month"), (" ", None), (y, "year")],
    "MMM d yyyy": lambda y, m, d, month, wd: [
        (month[:3], "month"), (" ", None), (str(d), "day"), (" ", None), (y, "year")],
    "dd.mm.yyyy": lambda y, m, d, month, wd: [
        (f"{d:02d}", "day"), (".", None), (f"{m:02d}", "month"), (".", None), (y, "year")],
    "mm/dd/yyyy": lambda y, m, d, month, wd: [
        (f"{m:02d}", "month"), ("/", None), (f"{d:02d}", "day"), ("/", None), (y, "year")],
    "yyyy/mm/dd": lambda y, m, d, month, wd: [
        (y, "year"), ("/", None), (f"{m:02d}", "month"), ("/", None), (f"{d:02d}", "day")],
    "EEEE, d MMMM yyyy": lambda y, m, d, month, wd: [
        (wd + ", ", None), (str(d), "day"), (" ", None), (month, "month"), (" ", None),
        (y, "year")],
    "EEE MMM dd yyyy": lambda y, m, d, month, wd: [
        (wd[:3] + " ", None), (month[:3], "month"), (" ", None), (f"{d:02d}", "day"),
        (" ", None), (y, "year")],
    "dd-MMM-yyyy": lambda y, m, d, month, wd: [
        (f"{d:02d}", "day"), ("-", None), (month[:3], "month"), ("-", None), (y, "year")],
    "the dth of MMMM yyyy": lambda y, m, d, month, wd: [
        ("the ", None), (str(d), "day"), (_ordinal(d) + " of ", None), (month, "month"),
        (" ", None), (y, "year")],
    "MMMM dth, yyyy": lambda y, m, d, month, wd: [
        (month, "month"), (" ", None), (str(d), "day"), (_ordinal(d) + ", ", None),
        (y, "year")],
}


def _pieces(date: dt.date, name: str) -> list[tuple[str, str | None]]:
    return _LAYOUTS[name](f"{date.year:04d}", date.month, date.day, MONTHS[date.month - 1],
                          WEEKDAYS[date.weekday()])


FORMATS: tuple[str, ...] = tuple(_LAYOUTS)
"""The input formats, named in the style of Unicode date patterns (``MMMM`` = "March",
``MMM`` = "Mar", ``EEEE`` = "Tuesday", ``dth`` = "3rd")."""


def to_iso(date: dt.date) -> str:
    """``date`` as ISO 8601 ``YYYY-MM-DD`` (what every target is made of)."""
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}"


def _apply_case(text: str, case: str) -> str:
    return {"title": text, "lower": text.lower(), "upper": text.upper()}[case]


def render(date: dt.date, fmt: str, case: str = "title") -> tuple[str, dict[str, tuple]]:
    """One date written in format ``fmt`` and ``case``, and where its fields are.

    Returns ``(text, spans)``: ``spans`` maps each of :data:`FIELDS` to ``(start, stop)``,
    the characters ``text[start:stop]`` that hold that field. Raises ``ValueError`` for an
    unknown format or case.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown date format {fmt!r}; choose from {list(FORMATS)}")
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; choose one of {CASES}")
    text, spans = "", {}
    for piece, field in _pieces(date, fmt):
        if field is not None:
            spans[field] = (len(text), len(text) + len(piece))
        text += _apply_case(piece, case)
    return text, spans


# -- vocabularies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Characters and their integer ids; id 0 is padding.

    ``specials`` are tokens that stand for no character (padding, and for targets the start
    and end markers the decoder needs); they take the first ids, then one id per character.
    """

    characters: str
    specials: tuple[str, ...] = ("<pad>",)

    def __post_init__(self):
        if len(set(self.characters)) != len(self.characters):
            raise ValueError(f"characters must be distinct, got {self.characters!r}")
        if not self.specials or self.specials[0] != "<pad>":
            raise ValueError(f"the first special token must be '<pad>', got {self.specials}")

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token, indexed by its id."""
        return self.specials + tuple(self.characters)

    @property
    def size(self) -> int:
        """The number of ids, specials included (the size of an embedding or output layer)."""
        return len(self.specials) + len(self.characters)

    def id(self, token: str) -> int:
        """The id of a special token (``"<start>"``) or a character."""
        try:
            return self.tokens.index(token)
        except ValueError:
            raise ValueError(f"{token!r} is not in this vocabulary") from None

    def encode(self, texts: Sequence[str], length: int | None = None, start: bool = False,
               end: bool = False) -> np.ndarray:
        """Texts as an int32 matrix (n, length) of ids, padded with 0 at the end.

        ``start``/``end`` add the ``<start>``/``<end>`` tokens (which must be specials of this
        vocabulary). ``length`` defaults to the longest encoded text. Raises ``ValueError``
        for a character outside the vocabulary (naming it and the text) or a text longer
        than ``length``.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a sequence of strings, got a single string")
        lookup = {c: i for i, c in enumerate(self.characters, start=len(self.specials))}
        head = [self.id("<start>")] if start else []
        tail = [self.id("<end>")] if end else []
        rows = []
        for text in texts:
            try:
                rows.append(head + [lookup[c] for c in text] + tail)
            except KeyError:
                bad = sorted({c for c in text if c not in lookup})
                raise ValueError(
                    f"characters {bad} of {text!r} are not in the vocabulary "
                    f"{self.characters!r}"
                ) from None
        longest = max((len(r) for r in rows), default=0)
        length = longest if length is None else length
        if longest > length:
            raise ValueError(f"a text needs {longest} ids but length is {length}")
        out = np.zeros((len(rows), length), dtype=np.int32)
        for i, row in enumerate(rows):
            out[i, :len(row)] = row
        return out

    def decode(self, ids) -> list[str]:
        """Rows of ids back to texts: padding and ``<start>`` are skipped, a row ends at
        ``<end>``. ``ids`` is (n, T) (or one row (T,), giving a list of one text)."""
        ids = np.atleast_2d(np.asarray(ids))
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be an int matrix (n, T), got shape {ids.shape} "
                             f"dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"ids must lie in [0, {self.size}), got values from "
                             f"{ids.min()} to {ids.max()}")
        tokens = self.tokens
        stop = self.id("<end>") if "<end>" in self.specials else -1
        texts = []
        for row in ids:
            chars = []
            for i in row:
                if i == stop:
                    break
                if i >= len(self.specials):
                    chars.append(tokens[i])
            texts.append("".join(chars))
        return texts


def _source_characters() -> str:
    words = MONTHS + WEEKDAYS + ("the", "of", "st", "nd", "rd", "th")
    letters = sorted({c for w in words for c in w.lower() + w.upper()})
    return "0123456789" + "".join(letters) + " ,./-;"


SOURCE_VOCABULARY = Vocabulary(_source_characters())
"""The input characters: digits, the letters of month and weekday names (both cases) and the
punctuation of :data:`FORMATS`; id 0 is padding."""
TARGET_VOCABULARY = Vocabulary("0123456789- ", specials=("<pad>", "<start>", "<end>"))
"""The output characters of ISO dates, with padding (0), ``<start>`` (1) and ``<end>`` (2)."""


# -- examples ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateExamples:
    """Generated inputs and targets, with what is known about each.

    ``sources``/``targets`` (n texts); ``dates[i]`` the dates of example i; ``formats[i]``
    their formats; ``spans[i][j]`` maps each field of date j to its ``(start, stop)``
    characters in ``sources[i]``.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    dates: tuple[tuple[dt.date, ...], ...]
    formats: tuple[tuple[str, ...], ...]
    spans: tuple[tuple[dict, ...], ...]

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def source_lengths(self) -> np.ndarray:
        """Input length of each example in characters, shape (n,)."""
        return np.array([len(s) for s in self.sources], dtype=np.int64)

    @property
    def n_dates(self) -> np.ndarray:
        """Number of dates in each example, shape (n,)."""
        return np.array([len(d) for d in self.dates], dtype=np.int64)

    def subset(self, index) -> DateExamples:
        """The examples at ``index`` (an int array or boolean mask of shape (n,))."""
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise ValueError(f"a boolean index must have shape ({len(self)},), "
                                 f"got {index.shape}")
            index = np.flatnonzero(index)
        pick = [int(i) for i in index]
        return DateExamples(*(tuple(part[i] for i in pick) for part in
                              (self.sources, self.targets, self.dates, self.formats,
                               self.spans)))

    def alignment(self, i: int) -> np.ndarray:
        """The known alignment of example ``i``: boolean (len(target) + 1, len(source)).

        Row r is target character r (the last row is the ``<end>`` token); it is True on the
        input characters that character is read from: the source year for the four year
        digits, the month (name or number) for the two month digits, the day for the two day
        digits, and the ``"; "`` between two dates for the space between two ISO dates. The
        hyphens and ``<end>`` come from no particular input character: their rows are False.
        """
        if not -len(self) <= i < len(self):
            raise IndexError(f"example {i} out of range for {len(self)} examples")
        source, spans = self.sources[i], self.spans[i]
        rows = len(self.targets[i]) + 1
        matrix = np.zeros((rows, len(source)), dtype=bool)
        # Where each date starts in the source and in the target.
        starts = [0]
        for _ in range(1, len(spans)):
            starts.append(source.index(DATE_SEPARATOR, starts[-1]) + len(DATE_SEPARATOR))
        iso_parts = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}
        for j, (offset, date_spans) in enumerate(zip(starts, spans, strict=True)):
            base = j * (10 + len(TARGET_SEPARATOR))
            for field, (low, high) in iso_parts.items():
                start, stop = date_spans[field]
                matrix[base + low:base + high, offset + start:offset + stop] = True
            if j:  # the space before this ISO date comes from the "; " before this date
                matrix[base - 1, offset - len(DATE_SEPARATOR):offset] = True
        return matrix


def _check_request(n, min_dates, max_dates, formats, first_year, last_year) -> tuple:
    for name, value in (("n", n), ("min_dates", min_dates), ("max_dates", max_dates),
                        ("first_year", first_year), ("last_year", last_year)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    if min_dates < 1:
        raise ValueError(f"every input holds at least one date: min_dates must be >= 1, "
                         f"got {min_dates}")
    if max_dates < min_dates:
        raise ValueError(f"max_dates ({max_dates}) must be at least min_dates ({min_dates})")
    if not 1000 <= first_year <= last_year <= 9999:
        raise ValueError(
            f"years must satisfy 1000 <= first_year <= last_year <= 9999 (ISO 8601 writes "
            f"four digits), got first_year={first_year}, last_year={last_year}"
        )
    formats = FORMATS if formats is None else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty selection of {list(FORMATS)}, "
                         f"got unknown {unknown}" if unknown else "formats is empty")
    return formats


def make_examples(n: int, max_dates: int = 5, min_dates: int = 1, seed: int = 0,
                  formats: Sequence[str] | None = None, first_year: int = 1900,
                  last_year: int = 2099, cases: Sequence[str] | None = None) -> DateExamples:
    """``n`` examples with ``min_dates`` to ``max_dates`` dates each (uniformly), from ``seed``.

    Each date is drawn uniformly from ``first_year``-01-01 to ``last_year``-12-31, each
    format uniformly from ``formats`` (default: all of :data:`FORMATS`), each case with
    probabilities 0.6 (title), 0.2 (lower), 0.2 (upper), or uniformly from ``cases`` when
    given (a selection of :data:`CASES`). The same arguments always give the same examples.
    Raises ``ValueError`` for an impossible request (negative ``n``, fewer than one date,
    ``max_dates < min_dates``, years that are not four digits or in the wrong order, unknown
    formats or cases).
    """
    formats = _check_request(n, min_dates, max_dates, formats, first_year, last_year)
    if cases is None:
        case_names, case_p = CASES, (0.6, 0.2, 0.2)
    else:
        case_names = tuple(cases)
        if not case_names or any(c not in CASES for c in case_names):
            raise ValueError(f"cases must be a non-empty selection of {CASES}, got {cases!r}")
        case_p = None
    rng = np.random.default_rng(seed)
    first = dt.date(first_year, 1, 1).toordinal()
    days = dt.date(last_year, 12, 31).toordinal() - first + 1
    counts = rng.integers(min_dates, max_dates + 1, size=n)
    total = int(counts.sum())
    ordinals = (first + rng.integers(0, days, size=total)).tolist()
    chosen = rng.integers(0, len(formats), size=total).tolist()
    chosen_cases = rng.choice(len(case_names), size=total, p=case_p).tolist()
    parts = [], [], [], [], []
    end = 0
    for count in counts.tolist():
        begin, end = end, end + count
        dates = tuple(dt.date.fromordinal(o) for o in ordinals[begin:end])
        names = tuple(formats[f] for f in chosen[begin:end])
        rendered = [render(d, f, case_names[c])
                    for d, f, c in zip(dates, names, chosen_cases[begin:end], strict=True)]
        parts[0].append(DATE_SEPARATOR.join(text for text, _ in rendered))
        parts[1].append(TARGET_SEPARATOR.join(to_iso(d) for d in dates))
        parts[2].append(dates)
        parts[3].append(names)
        parts[4].append(tuple(spans for _, spans in rendered))
    return DateExamples(*(tuple(p) for p in parts))


def make_splits(sizes: dict[str, int], max_dates: int = 5, seed: int = 0,
                **options) -> dict[str, DateExamples]:
    """Disjoint splits, e.g. ``make_splits({"train": 20000, "val": 1000, "test": 3000})``.

    Each split is drawn from its own seed (derived from ``seed`` and the split's position);
    an input that already occurs in an earlier split is drawn again, so no test input is
    ever a training input. ``options`` go to :func:`make_examples`. Raises ``ValueError``
    when the settings allow too few distinct inputs for the sizes asked for.
    """
    taken: set[str] = set()
    splits = {}
    for position, (name, size) in enumerate(sizes.items()):
        kept: list[int] = []
        pool = None
        for attempt in range(20):
            missing = size - len(kept)
            drawn = make_examples(missing + missing // 20 + 16 if missing else 0,
                                  max_dates=max_dates, seed=seed * 1000 + position * 50 + attempt,
                                  **options)
            fresh = []
            for i, source in enumerate(drawn.sources):
                if source not in taken and len(kept) + len(fresh) < size:
                    taken.add(source)
                    fresh.append(i)
            pool = drawn.subset(fresh) if pool is None else _concat(pool, drawn.subset(fresh))
            kept.extend(fresh)
            if len(kept) == size:
                break
        else:
            raise ValueError(
                f"could not draw {size} distinct inputs for split {name!r} after 20 attempts: "
                f"these settings allow too few distinct inputs; ask for fewer examples, more "
                f"formats, more dates per input or a wider range of years"
            )
        splits[name] = pool
    return splits


def _concat(a: DateExamples, b: DateExamples) -> DateExamples:
    return DateExamples(*(x + y for x, y in zip(
        (a.sources, a.targets, a.dates, a.formats, a.spans),
        (b.sources, b.targets, b.dates, b.formats, b.spans), strict=True)))
