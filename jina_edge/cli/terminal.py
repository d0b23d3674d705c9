"""Text on its way to a terminal: what came from a file or a model is shown, never obeyed.

A file name, a passage, a model's name or a refusal quoting a file can carry
escape sequences (clear the screen, set the window title, draw a link) or
characters that move the cursor or reorder the line; they are written as
visible JSON-style escapes, which keeps JSON lines valid too.
"""

from __future__ import annotations

import logging
import re

import click

# C0 controls but tab and newline, DEL and C1, the bidirectional controls,
# and lone surrogates (which cannot be encoded at all).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


def shown(text: str) -> str:
    """`text` with every character a terminal would obey written as a JSON-style escape."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: str = "", *, err: bool = False) -> None:
    """click.echo of `text` made safe (`shown`)."""
    click.echo(shown(text), err=err)


def styled(text: str, **style: object) -> str:
    """`text` made safe, then styled (the style's own escapes are ours)."""
    return click.style(shown(text), **style)  # type: ignore[arg-type]


class SafeFormatter(logging.Formatter):
    """Log lines made safe: they quote paths and file contents."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, `shown`."""
        return shown(super().format(record))
