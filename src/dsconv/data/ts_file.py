"""A strict reader of the .ts time-series format (UCR/UEA, aeon, sktime) with line numbers.

aeon's own parser is not used: it lowercases every line (so 'Standing' became 'standing' and
'Banana' 'baNaNa', its "nan" -> "NaN" rewrite), ignores unknown headers (a misspelled
'@classLabl' went unnoticed), and reports a bad row as "case 2" or a bare float() error with
no file or line. Here every problem names the file, the line and what was expected.

Format: '#' comment lines, '@key value' headers, then '@data' and one series per line: the
channels separated by ':', each a ','-separated list of numbers ('?' or NaN: missing), then
(with '@classLabel true' or '@targetLabel true') ':' and the label.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Lowercased key -> the spelling the format's documentation uses.
HEADERS = {k.lower(): k for k in ("problemName", "timeStamps", "missing", "univariate",
                                  "dimensions", "equalLength", "seriesLength", "classLabel",
                                  "targetLabel", "data")}
_BOOLEAN = ("timestamps", "missing", "univariate", "equallength", "targetlabel")
_INTEGER = ("dimensions", "serieslength")


@dataclass
class TsHeader:
    """What a .ts header declares (None: not declared)."""

    flags: dict[str, bool] = field(default_factory=dict)  # the boolean headers, lowercased keys
    numbers: dict[str, int] = field(default_factory=dict)  # dimensions, serieslength
    class_labels: list[str] | None = None  # '@classLabel true A B ...' -> [A, B, ...]
    labelled: bool | None = None  # @classLabel true/false; None when the file has no such line
    data_line: int = 0  # the line number of '@data'


def _fail(path: Path, line: int, what: str) -> ValueError:
    return ValueError(f"{path}, line {line}: {what}")


def _header_line(path: Path, n: int, tokens: list[str], head: TsHeader) -> None:
    """Record one '@key value...' line in `head`, refusing unknown keys and bad values."""
    key = tokens[0][1:].lower()
    if key not in HEADERS:
        close = difflib.get_close_matches(key, list(HEADERS), n=1, cutoff=0.6)
        hint = f" (did you mean '@{HEADERS[close[0]]}'?)" if close else ""
        known = ", ".join(f"@{v}" for v in HEADERS.values())
        raise _fail(path, n, f"unknown header '{tokens[0]}'{hint}; the .ts headers are {known}")
    name, values = f"@{HEADERS[key]}", tokens[1:]
    if key in _BOOLEAN or key == "classlabel":
        if not values or values[0].lower() not in ("true", "false") or (
                key != "classlabel" and len(values) > 1):
            raise _fail(path, n, f"{name} takes true or false; got {' '.join(values) or 'nothing'}")
        if key == "classlabel":
            head.labelled = values[0].lower() == "true"
            head.class_labels = values[1:] if head.labelled else None
            if head.labelled and not values[1:]:
                raise _fail(path, n, "@classLabel true must list the class labels: "
                            "'@classLabel true LABEL1 LABEL2 ...'")
        else:
            head.flags[key] = values[0].lower() == "true"
    elif key in _INTEGER:
        if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
            raise _fail(path, n, f"{name} takes a positive whole number; got "
                        f"{' '.join(values) or 'nothing'}")
        head.numbers[key] = int(values[0])
    elif key == "data" and values:
        raise _fail(path, n, "@data stands alone on its line; the series start on the next line")


def read_header(path: Path, lines: Iterable[str]) -> TsHeader:
    """The header of a .ts file's lines (a list, or the open file), up to and including '@data'.
    """
    head = TsHeader()
    for n, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if not tokens[0].startswith("@"):
            raise _fail(path, n, f"expected a '@' header line or '@data' before the series; "
                        f"got {line.strip()[:40]!r}")
        _header_line(path, n, tokens, head)
        if tokens[0].lower() == "@data":
            head.data_line = n
            return head
    raise ValueError(f"{path}: no '@data' line: a .ts file is '@' header lines, then '@data', "
                     "then one series per line")


def _check_header(path: Path, head: TsHeader) -> None:
    if head.flags.get("timestamps"):
        raise ValueError(f"{path}: '@timeStamps true' is not supported: write the series as "
                         "evenly spaced values (resample them) with '@timeStamps false'")
    if head.labelled is None and not head.flags.get("targetlabel"):
        raise ValueError(f"{path}: no '@classLabel' header: add '@classLabel true LABEL1 "
                         "LABEL2 ...' (labelled series) or '@classLabel false' before '@data'")


def _numbers(path: Path, n: int, channel: int, text: str) -> np.ndarray:
    """One channel's ','-separated values ('?' = missing) -> float64 array."""
    tokens = [t.strip() for t in text.split(",")]
    try:
        return np.array([np.nan if t == "?" else float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if t != "?" and not is_number(t))
        raise _fail(path, n, f"channel {channel}: {bad!r} is not a number (values are numbers "
                    "separated by ','; '?' or NaN marks a missing value)") from None


def is_number(text: str) -> bool:
    """True when float() reads `text` (e.g. "1.5", "NaN", "-inf")."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label(path: Path, n: int, text: str, head: TsHeader, lookup: dict[str, str]) -> str:
    """The row's label, spelt as the header declares it (matched ignoring case)."""
    label = text.strip()
    if head.class_labels is None:
        return label
    if label in head.class_labels:
        return label
    if label.lower() in lookup:  # the header's spelling wins: one class, one name
        return lookup[label.lower()]
    raise _fail(path, n, f"label {label!r} is not declared in '@classLabel true "
                f"{' '.join(head.class_labels)}'")


def _channels_expected(head: TsHeader) -> int | None:
    if "dimensions" in head.numbers:
        return head.numbers["dimensions"]
    return 1 if head.flags.get("univariate") else None


def _row(path: Path, n: int, line: str, head: TsHeader, expect: int | None
         ) -> tuple[list[str], str | None]:
    """(channel texts, label text or None) of one data line, the channel count checked."""
    parts = line.split(":")
    has_label = bool(head.labelled or head.flags.get("targetlabel"))
    channels, label = (parts[:-1], parts[-1]) if has_label else (parts, None)
    if expect is not None and len(channels) != expect:
        form = ":".join(["v1,v2,..."] * min(expect, 3)) + (":..." if expect > 3 else "")
        form += ":LABEL" if has_label else ""
        read = f"; the label read was {label.strip()!r}" if has_label else ""
        raise _fail(path, n, f"{len(channels)} channel(s), expected {expect}: each line is the "
                    f"channels separated by ':'{', then :LABEL' if has_label else ''} "
                    f"({form}){read}")
    return channels, label


def read_ts(path: str | Path, check_labels: bool = True
            ) -> tuple[list[np.ndarray], list[str] | None, TsHeader]:
    """(series: list of (C, L_i) float64, labels or None, header) of a .ts file.

    A labelled file's labels take the header's spelling ('@classLabel true Standing ...' wins
    over a row's 'standing'); a label the header does not declare is an error unless
    check_labels is False (prediction reads the series only). Every error names the file and
    the line.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    head = read_header(path, lines)
    _check_header(path, head)
    expect, length = _channels_expected(head), head.numbers.get("serieslength")
    declared, equal = length is not None, head.flags.get("equallength", True)
    lookup = {v.lower(): v for v in head.class_labels or []}
    series, labels = [], []
    for n, line in enumerate(lines[head.data_line:], head.data_line + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        channels, label = _row(path, n, line, head, expect)
        expect = len(channels)
        values = [_numbers(path, n, i + 1, c) for i, c in enumerate(channels)]
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise _fail(path, n, f"channels of one series differ in length "
                        f"{[len(v) for v in values]}; every channel needs the same length")
        if equal and length is not None and len(values[0]) != length:
            said = f"the header says '@seriesLength {length}'" if declared else \
                f"the first series has {length}"
            raise _fail(path, n, f"{len(values[0])} values per channel, but {said} (for series "
                        "of varying length write '@equalLength false')")
        length = length or len(values[0])
        series.append(np.stack(values))
        if label is not None and check_labels:
            labels.append(_label(path, n, label, head, lookup))
    if not series:
        raise ValueError(f"{path}: no series after '@data' (line {head.data_line})")
    return series, labels if labels else None, head
