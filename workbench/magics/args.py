"""Argument parsing for magics that take code after their options.

``%wtime -n 10 sum(x for x in range(10))``: the options are parsed by the magic's
``magic_arguments`` parser, and the statement is kept as the raw text that follows them,
untouched (splitting it into shell words would mangle quotes and spacing).
"""

from __future__ import annotations

import argparse
import re

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.utils.text import dedent

_TOKEN = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\S+)""")
_NUMBER = re.compile(r"-[\d.]")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def split_options(parser: MagicArgumentParser, line: str) -> tuple[argparse.Namespace, str]:
    """Parse the leading options of ``line``; return them and the raw rest (the code).

    Options end at the first word that is not an option or an option's value, or at ``--``.
    """
    option_tokens: list[str] = []
    pos = 0
    takes_value = {
        opt: action.nargs != 0
        for action in parser._actions
        for opt in action.option_strings
    }
    while True:
        match = _TOKEN.match(line, pos)
        if match is None:
            pos = len(line)
            break
        token = match.group(1)
        if token == "--":
            pos = match.end()
            break
        if not token.startswith("-") or _NUMBER.match(token):
            break
        name = token.split("=", 1)[0]
        if name not in takes_value:
            raise UsageError(f"unknown option {name!r}; see {parser.prog}? for the options")
        option_tokens.append(token)
        pos = match.end()
        if takes_value[name] and "=" not in token:
            value = _TOKEN.match(line, pos)
            if value is None:
                raise UsageError(f"option {name} needs a value")
            option_tokens.append(_unquote(value.group(1)))
            pos = value.end()
    args = parser.parse_args(option_tokens)
    return args, line[pos:].strip()


def split_assignments(text: str) -> dict[str, str]:
    """``"a=f(x, k=1) b=g(x)"`` -> ``{"a": "f(x, k=1)", "b": "g(x)"}``.

    A new candidate starts at a ``name=`` (not ``==``) preceded by whitespace outside
    brackets and strings; newlines also separate candidates.
    """
    candidates: dict[str, list[str]] = {}
    current: list[str] | None = None
    depth, quote, i = 0, "", 0
    start_re = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)")
    while i < len(text):
        ch = text[i]
        at_boundary = i == 0 or text[i - 1].isspace()
        if not quote and depth == 0 and at_boundary:
            match = start_re.match(text, i)
            if match:
                name = match.group(1)
                if name in candidates:
                    raise UsageError(f"candidate {name!r} is named twice")
                current = candidates[name] = []
                i = match.end()
                continue
        if current is None:
            if not ch.isspace():
                raise UsageError("name each candidate: %wcompare a=EXPR b=EXPR ...")
            i += 1
            continue
        if quote:
            if ch == "\\":
                current.append(text[i : i + 2])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        current.append(ch)
        i += 1
    result = {name: dedent("".join(chars)).strip() for name, chars in candidates.items()}
    empty = [name for name, code in result.items() if not code]
    if empty:
        raise UsageError(f"candidate {empty[0]!r} has no expression")
    return result


__all__ = ["split_assignments", "split_options"]
