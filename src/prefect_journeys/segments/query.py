"""Is a segment's SQL one read-only query? A small lexer, checked when a project is loaded.

A segment backed by SQL (``segments/<id>.yaml`` with ``source:`` and ``query:``) runs its query in
the source database. :func:`query_issue` rejects, before anything runs, text that is not exactly one
``SELECT`` (or ``WITH … SELECT``) statement: a second statement after a ``;``, a statement starting
with another keyword, and, outside string literals, quoted identifiers and comments, the words
that make a SELECT write or lock: ``INSERT``, ``UPDATE``, ``DELETE`` and ``MERGE`` of a
data-modifying ``WITH``, ``INTO`` of ``SELECT … INTO``, ``FOR UPDATE`` / ``FOR SHARE`` ….

This check is for early, clear errors; it is not the guarantee. The guarantee is that the query
runs in a read-only transaction that is always rolled back (:mod:`prefect_journeys.segments.refresh`),
so a side effect the lexer cannot see (a function that writes) fails there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["QueryIssue", "query_issue"]

# Inside one SELECT/WITH statement only these words can change data or take locks: a
# data-modifying CTE (WITH x AS (DELETE … RETURNING …)), SELECT … INTO (creates a table) and
# FOR UPDATE. Statement-level commands (DROP, VACUUM, …) cannot follow a SELECT without a ';',
# which is refused on its own, so they are not listed (they would only reject column names).
_FORBIDDEN = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "INTO"})
_LOCKING = frozenset(
    {"SHARE", "NO", "KEY"}
)  # after FOR: FOR SHARE, FOR NO KEY UPDATE, FOR KEY SHARE
_STARTS = frozenset({"SELECT", "WITH"})

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class QueryIssue:
    """Why a query is refused, and the 1-based line of the query text where it was seen."""

    message: str
    line: int

    def __str__(self) -> str:
        return f"{self.message} (line {self.line} of the query)"


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "semicolon", "other"
    text: str
    line: int


def query_issue(sql: str) -> QueryIssue | None:
    """None when ``sql`` is one read-only SELECT/WITH statement, else what is wrong with it."""
    try:
        tokens = _tokens(sql)
    except _Unclosed as exc:
        return QueryIssue(f"unclosed {exc.what}", exc.line)
    statements: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == "semicolon":
            statements.append([])
        else:
            statements[-1].append(token)
    filled = [s for s in statements if s]
    if not filled:
        return QueryIssue("the query is empty: write one SELECT statement", 1)
    if len(filled) > 1:
        return QueryIssue(
            "more than one SQL statement: a segment query is exactly one SELECT", filled[1][0].line
        )
    (statement,) = filled
    first = next((t for t in statement if t.kind == "word"), None)
    if first is None or first.text.upper() not in _STARTS:
        seen = first.text.upper() if first is not None else statement[0].text
        where = first.line if first is not None else statement[0].line
        return QueryIssue(
            f"a segment query must be a SELECT (or WITH … SELECT) statement, not {seen}", where
        )
    words = [t for t in statement if t.kind == "word"]
    for index, token in enumerate(words):
        word = token.text.upper()
        if word in _FORBIDDEN:
            return QueryIssue(
                f"'{token.text}' is not allowed: a segment query only reads (no writes,"
                ' SELECT … INTO or locks); quote it ("…") if it is a'
                " column name",
                token.line,
            )
        following = words[index + 1].text.upper() if index + 1 < len(words) else ""
        if word == "FOR" and following in _LOCKING:
            return QueryIssue(
                "row locks (FOR SHARE / FOR KEY SHARE …) are not allowed in a segment query",
                token.line,
            )
    return None


class _Unclosed(Exception):
    def __init__(self, what: str, line: int) -> None:
        super().__init__(what)
        self.what = what
        self.line = line


def _tokens(sql: str) -> list[_Token]:
    """Words, semicolons and other characters; literals, quoted names and comments skipped."""
    out: list[_Token] = []
    i, line, n = 0, 1, len(sql)
    while i < n:
        ch = sql[i]
        start_line = line
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            i, line = _block_comment(sql, i, line)
        elif ch in "'\"`":
            escapes = ch == "'" and i > 0 and sql[i - 1] in "eE" and not _word_char(sql, i - 2)
            i, line = _quoted(sql, i, line, ch, escapes)
        elif ch == "[" and _bracket_identifier(sql, i):
            end = sql.find("]", i)
            line += sql.count("\n", i, end)
            i = end + 1
        elif ch == "$" and (match := _DOLLAR_TAG.match(sql, i)) and not _word_char(sql, i - 1):
            tag = match.group(0)
            end = sql.find(tag, match.end())
            if end < 0:
                raise _Unclosed(f"dollar-quoted string {tag}", start_line)
            line += sql.count("\n", i, end)
            i = end + len(tag)
        elif ch == ";":
            out.append(_Token("semicolon", ch, line))
            i += 1
        elif match := _WORD.match(sql, i):
            out.append(_Token("word", match.group(0), line))
            i = match.end()
        else:
            out.append(_Token("other", ch, line))
            i += 1
    return out


def _word_char(sql: str, index: int) -> bool:
    return index >= 0 and (sql[index].isalnum() or sql[index] in "_$")


def _bracket_identifier(sql: str, index: int) -> bool:
    """``[name]`` (SQL Server, SQLite) rather than an array subscript ``a[1]``."""
    end = sql.find("]", index)
    return end > 0 and not _word_char(sql, index - 1) and sql[index - 1 : index] != "]"


def _block_comment(sql: str, i: int, line: int) -> tuple[int, int]:
    """Skip ``/* … */`` (nested, as Postgres allows)."""
    start_line, depth, i = line, 1, i + 2
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i, line
        else:
            line += sql[i] == "\n"
            i += 1
    raise _Unclosed("comment /* … */", start_line)


def _quoted(sql: str, i: int, line: int, quote: str, escapes: bool) -> tuple[int, int]:
    """Skip a string literal or quoted identifier; a doubled quote is a quote inside it."""
    start_line, i = line, i + 1
    while i < len(sql):
        ch = sql[i]
        if escapes and ch == "\\":
            line += sql[i + 1 : i + 2] == "\n"
            i += 2
            continue
        if ch == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1, line
        line += ch == "\n"
        i += 1
    what = "string literal" if quote == "'" else "quoted identifier"
    raise _Unclosed(f"{what} ({quote}…)", start_line)
