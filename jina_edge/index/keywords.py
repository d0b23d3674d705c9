"""Words for keyword search: one set of rules for indexing, queries and highlights.

The full-text index (SQLite FTS5, `unicode61` tokenizer with diacritics
folded, no stemmer: an English stemmer would mangle German or Spanish) splits
text at anything that is not a letter or a digit. Chinese and Japanese are
written without spaces, so a run of Han, kana or Hangul would be one "word";
the index therefore reads such text with a zero-width space between adjacent
characters (`index_form`), so that each character is a token and any run of
them can be found as a phrase. A query's CJK run becomes its overlapping
character pairs (bigrams, as Lucene's CJK analysis does), each pair a term.
"""

from __future__ import annotations

import re
import unicodedata

# Between two CJK characters in the text the index reads (a separator to
# unicode61: its category is Cf, not a letter or a digit).
SEPARATOR = "\u200b"
_CJK_CLASS = ("\u3040-\u30ff"        # Hiragana, Katakana
              "\u3400-\u4dbf"        # CJK Extension A
              "\u4e00-\u9fff"        # CJK Unified Ideographs
              "\uac00-\ud7af"        # Hangul syllables
              "\uf900-\ufaff"        # CJK Compatibility Ideographs
              "\U00020000-\U0003134f")  # CJK Extensions B-G
_CJK = re.compile(f"[{_CJK_CLASS}]")
_CJK_PAIR = re.compile(f"(?<=[{_CJK_CLASS}])(?=[{_CJK_CLASS}])")
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as unicode61 splits
PREFIX_MIN_CHARS = 3  # the last query word matches as a prefix from this length
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split())  # noqa: SIM905 - a word list reads better as text


def index_form(text: str) -> str | None:
    """`text` as the full-text index reads it, or None when that is `text` itself."""
    if not _CJK.search(text) and SEPARATOR not in text:
        return None
    return _CJK_PAIR.sub(SEPARATOR, text.replace(SEPARATOR, ""))


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, in order: a CJK run gives its character pairs."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        at = 0
        for run in _CJK_RUN.finditer(word):
            if run.start() > at:
                out.append(word[at:run.start()])
            chars = run.group()
            out.extend([chars] if len(chars) == 1 else
                       [chars[i:i + 2] for i in range(len(chars) - 1)])
            at = run.end()
        if at < len(word):
            out.append(word[at:])
    return out


def content_terms(query: str) -> list[str]:
    """The query's words that make matches, once each.

    Stop words are left out, unless the query has nothing else.
    """
    unique = list(dict.fromkeys(words(query)))
    return [w for w in unique if w not in STOP_WORDS] or unique


def is_cjk(term: str) -> bool:
    """True for a term made of CJK characters (a character pair)."""
    return bool(_CJK.match(term))


def fts_string(text: str) -> str:
    """`text` as an FTS5 string (a phrase when it holds several tokens)."""
    form = index_form(text)
    return '"' + (text if form is None else form).replace('"', '""') + '"'


def fold(word: str) -> str:
    """A word as the index compares it: lower case, without diacritics."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Spans of `text` that the query's words match, as the search matches them.

    Words match whole (case and diacritics folded), the last one also as the
    start of a longer word while it is being typed; CJK pairs match anywhere;
    single letters and digits only in a query of nothing longer.
    """
    terms = content_terms(query)
    plain = {fold(t) for t in terms if not is_cjk(t)}
    # A lone letter or digit ("step 5", "plan b") would light up every "a" and
    # "5" of the passage: it is marked only when the query has nothing longer.
    plain = {t for t in plain if len(t) > 1} or plain
    last = terms[-1] if terms and not query[-1:].isspace() else None
    prefix = (fold(last) if last is not None and not is_cjk(last)
              and len(last) >= PREFIX_MIN_CHARS else None)
    spans = []
    for m in _WORD.finditer(text):
        word = m.group()
        word = word.lower() if word.isascii() else fold(word)
        if word in plain or (prefix is not None and word.startswith(prefix)):
            spans.append((m.start(), m.end()))
    for term in terms:
        if is_cjk(term):  # CJK has no case
            start = text.find(term)
            while start >= 0:
                spans.append((start, start + len(term)))
                start = text.find(term, start + 1)
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
