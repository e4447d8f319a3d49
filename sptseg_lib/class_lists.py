r"""Class lists as people write them: ``--classes`` as a file or as a comma-separated list.

How ``--classes VALUE`` is read (:func:`parse_class_names`):

- an existing file: one class name per line, UTF-8 with or without a byte-order mark (any other encoding is
  refused with the file's name and "save it as UTF-8"); blank lines are skipped; a line whose first
  non-blank character is ``#`` is a comment; ``\#`` writes a ``#`` that is part of a name (``\#1 seed`` is
  the class ``#1 seed``); a ``#`` after a name (``brick  # stuff``) is refused, since it is neither a
  comment nor clearly part of the name;
- otherwise a comma-separated list of names, of any length;
- a value without commas that looks like a path (it holds ``/`` or ``\``, or ends in a file suffix such as
  ``.txt``) but names no file is refused with both readings, rather than becoming a class of that name.

:func:`check_prompt_lengths` refuses a name whose prompt is longer than CLIP's text context (77 tokens),
which CLIP would otherwise cut without a word.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
_INLINE_COMMENT = re.compile(r"(?<!\\)\s#")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is no file
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def looks_like_path(text: str) -> bool:
    """Whether a value without commas reads as a file path: a ``/`` or ``\\``, or a file suffix."""
    return "/" in text or "\\" in text or bool(_FILE_SUFFIX.search(text.strip()))


def read_classes_file(path: str | Path) -> list[str]:
    """The class names of a classes file (module docstring: UTF-8, ``#`` comment lines, ``\\#``)."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data:
        raise ValueError(f"classes file {path} is UTF-16 text; save it as UTF-8 (one class name per line)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"classes file {path} is not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}, "
            "perhaps Latin-1 or Windows-1252); save it as UTF-8 (one class name per line)"
        ) from None
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _INLINE_COMMENT.search(stripped):
            raise ValueError(
                f"classes file {path}, line {number}: {stripped!r} has a '#' after the name; comments "
                "must be whole lines starting with '#' (move it to a line of its own), or write '\\#' to "
                "keep the '#' in the name"
            )
        names.append(stripped.replace("\\#", "#"))
    return names


def parse_class_names(value: str | Path, option: str = "--classes") -> list[str]:
    """The class names ``value`` holds: a file's lines, or a comma-separated list (module docstring);
    unchecked (see :func:`sptseg_lib.data.custom.check_class_names`)."""
    text = str(value)
    path = Path(text)
    if _is_file(path):
        return read_classes_file(path)
    if _is_dir(path):
        raise ValueError(f"{option} {text}: is a folder; give a text file or a comma-separated list")
    if "," not in text and looks_like_path(text):
        raise ValueError(
            f"{option} {text!r}: no such file; read as a list it would be the single class {text!r}. "
            "Give the path of an existing classes file, or class names separated by commas"
        )
    return text.split(",")


def check_prompt_lengths(tokenizer: Any, class_names: Sequence[str], templates: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first class name whose prompt exceeds the tokenizer's context length
    (CLIP: 77 tokens, start and end included), with its token count. Tokenizers without ``encode`` and
    ``context_length`` (a test's stand-in) are not checked."""
    encode = getattr(tokenizer, "encode", None)
    limit = getattr(tokenizer, "context_length", None)
    if encode is None or not isinstance(limit, int):
        return
    for name in class_names:
        for template in templates:
            prompt = template.format(name)
            count = len(encode(prompt)) + 2  # start and end of text
            if count > limit:
                shown = f"{name[:60]!r}{'...' if len(name) > 60 else ''}"
                raise ValueError(
                    f"class name {shown} is {count} tokens long in the prompt {template!r}; CLIP reads at "
                    f"most {limit} tokens and would cut it: shorten the name"
                )


__all__ = ["check_prompt_lengths", "looks_like_path", "parse_class_names", "read_classes_file"]
