"""Text encodings of dataset files: detection, explicit names, decoding.

SAS transport and CSV files do not say how their text is encoded. Files from
SAS sessions on Windows are Windows-1252 (the CDISC pilot's ``ts.xpt`` has
``Alzheimer’s`` with the apostrophe as byte 0x92); newer ones are UTF-8.

Detection, when no encoding is given:

1. strict UTF-8 (a UTF-8 byte-order mark is allowed in CSV);
2. otherwise Windows-1252;
3. otherwise Latin-1 (ISO 8859-1), when the text holds one of the five bytes
   Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D). Latin-1 reads
   every byte, so detection never fails.

The chosen name is one of ``utf-8``, ``windows-1252`` and ``latin-1`` and is kept
on the dataset as ``Dataset.extra["encoding"]``. An explicit encoding is any name
Python's codecs know (``cp1252``, ``iso-8859-1``, ``latin1``, ``utf8`` ...) and
is applied strictly: a byte it cannot decode is an error naming where it is.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl

from eap.errors import DatasetReadError

UTF8 = "utf-8"
WINDOWS_1252 = "windows-1252"
LATIN1 = "latin-1"

#: Bytes Windows-1252 does not define (Python's cp1252 codec refuses them).
CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_UNDEFINED_CHARS = "".join(chr(b) for b in sorted(CP1252_UNDEFINED))
#: The 27 characters Windows-1252 puts where Latin-1 has C1 control codes.
_CP1252_HIGH = {
    chr(b): bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in CP1252_UNDEFINED
}
_CANONICAL = {"utf-8": UTF8, "utf-8-sig": UTF8, "cp1252": WINDOWS_1252, "iso8859-1": LATIN1}
_EXPECTED = "an encoding name such as utf-8, windows-1252 (cp1252) or latin-1 (iso-8859-1)"


def normalize_encoding(name: str | None, *, file: Path | str | None = None) -> str | None:
    """The canonical name of an encoding (None stays None: detect); unknown names are an error.

    >>> normalize_encoding("CP1252"), normalize_encoding("ISO-8859-1"), normalize_encoding("utf8")
    ('windows-1252', 'latin-1', 'utf-8')
    """
    if name is None:
        return None
    try:
        codec = codecs.lookup(name.strip())
    except (LookupError, ValueError):  # ValueError: a name with a NUL character
        raise DatasetReadError(
            "unknown text encoding",
            file=file,
            expected=_EXPECTED,
            found=repr(name),
        ) from None
    if not getattr(codec, "_is_text_encoding", True):
        raise DatasetReadError(
            "not a text encoding",
            file=file,
            expected=_EXPECTED,
            found=repr(name),
        )
    return _CANONICAL.get(codec.name, codec.name)


def detect_single_byte(raw: bytes) -> str:
    """Windows-1252, or Latin-1 when a byte Windows-1252 leaves undefined is present."""
    return LATIN1 if any(b in raw for b in CP1252_UNDEFINED) else WINDOWS_1252


def decode_bytes(raw: bytes, encoding: str | None, *, file: Path | str) -> tuple[str, str]:
    """Decode a whole text file: ``(text, encoding used)``; ``encoding`` None detects."""
    enc = normalize_encoding(encoding, file=file)
    if enc is None:
        try:
            return raw.decode("utf-8-sig"), UTF8
        except UnicodeDecodeError:
            enc = detect_single_byte(raw)
    codec = "utf-8-sig" if enc == UTF8 else enc
    try:
        return raw.decode(codec), enc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetReadError(
            f"the text is not {enc}",
            file=file,
            rows=[line],
            expected=f"{enc} text" + (" (or give the file's encoding)" if encoding else ""),
            found=f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
        ) from exc
    except UnicodeError as exc:  # codecs such as punycode or idna say no more than this
        raise DatasetReadError(
            f"the text is not {enc}", file=file, expected=f"{enc} text", found=str(exc)
        ) from exc


# --- values read byte for byte ------------------------------------------------
# The XPT reader reads the text of a file that is not UTF-8 as Latin-1, which maps
# every byte to the character with the same number, then re-decodes it here.


def has_undefined_cp1252(values: pl.Series) -> bool:
    """True when a byte-for-byte (Latin-1) text column holds a byte Windows-1252 lacks."""
    return bool(values.str.contains(f"[{_UNDEFINED_CHARS}]").any())


def redecode(
    values: pl.Series, encoding: str, *, file: Path | str, dataset: str | None = None
) -> pl.Series:
    """Re-decode text read byte for byte (as Latin-1) with ``encoding``, strictly."""
    if encoding == LATIN1 or values.len() == 0:
        return values
    if encoding == WINDOWS_1252:
        bad = values.str.contains(f"[{_UNDEFINED_CHARS}]").fill_null(False)
        if bad.any():
            _undecodable(values, bad, encoding, file=file, dataset=dataset)
        return values.str.replace_many(list(_CP1252_HIGH), list(_CP1252_HIGH.values()))
    out: list[str | None] = []
    failed: list[int] = []
    for i, v in enumerate(values.to_list()):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(v.encode("latin-1").decode(encoding))
        except UnicodeError:
            failed.append(i)
            out.append(None)
    if failed:
        mask = pl.Series([False] * values.len())
        mask = mask.scatter(failed, True)
        _undecodable(values, mask, encoding, file=file, dataset=dataset)
    return pl.Series(values.name, out, dtype=pl.String)


def redecode_text(text: str, encoding: str, *, file: Path | str, what: str) -> str:
    """One label or name read byte for byte, re-decoded."""
    try:
        return text.encode("latin-1").decode(encoding)
    except UnicodeDecodeError as exc:
        raise DatasetReadError(
            f"the {what} is not {encoding} text",
            file=file,
            expected=f"{encoding} text",
            found=f"byte 0x{text.encode('latin-1')[exc.start]:02x} in {text!r}",
        ) from exc
    except UnicodeError as exc:
        raise DatasetReadError(
            f"the {what} is not {encoding} text",
            file=file,
            expected=f"{encoding} text",
            found=repr(text),
        ) from exc


def _undecodable(
    values: pl.Series, bad: pl.Series, encoding: str, *, file: Path | str, dataset: str | None
) -> None:
    rows = [i + 1 for i in bad.arg_true().to_list()]
    first = str(values[rows[0] - 1])
    raw = first.encode("latin-1")
    try:
        raw.decode(encoding)
        found = repr(first)
    except UnicodeDecodeError as exc:
        found = f"byte 0x{raw[exc.start]:02x} in {first!r}"
    except UnicodeError:
        found = repr(first)
    raise DatasetReadError(
        f"value is not {encoding} text",
        file=file,
        dataset=dataset,
        variable=values.name,
        rows=rows,
        expected=f"{encoding} text (or give the file's encoding)",
        found=found,
    )
