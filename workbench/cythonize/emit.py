"""Unparsing a function's statements one by one, keeping the user's line of every output line.

``ast.unparse`` of a whole function loses where each line came from; the emitter writes
compound statements' headers itself and unparses simple statements, so each generated line
is known to come from one line of the user's source (reports and compiler errors use it).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from workbench.cythonize.analysis import Parsed


class Emitter:
    """Unparses statements one by one, remembering the user's line of each output line."""

    def __init__(self, parsed: Parsed) -> None:
        self.parsed = parsed
        self.lines: list[tuple[str, int]] = []

    def add(self, text: str, line: int) -> None:
        self.lines += [(part, line) for part in text.splitlines()]

    def body(self, statements: Sequence[ast.stmt], depth: int, fallback: int) -> None:
        for stmt in statements or [ast.Pass()]:
            self.statement(stmt, depth, fallback)

    def statement(self, stmt: ast.stmt, depth: int, fallback: int) -> None:
        line = self.parsed.line(stmt) if hasattr(stmt, "lineno") else fallback
        pad = "    " * depth
        if isinstance(stmt, ast.For | ast.While):
            header = (
                f"for {ast.unparse(stmt.target)} in {ast.unparse(stmt.iter)}:"
                if isinstance(stmt, ast.For) else f"while {ast.unparse(stmt.test)}:"
            )
            self.add(pad + header, line)
            self.body(stmt.body, depth + 1, line)
            self._else(stmt.orelse, depth, line)
        elif isinstance(stmt, ast.If):
            self._if(stmt, depth, line, "if")
        elif isinstance(stmt, ast.With):
            self.add(pad + f"with {', '.join(ast.unparse(i) for i in stmt.items)}:", line)
            self.body(stmt.body, depth + 1, line)
        elif isinstance(stmt, ast.Try):
            self.add(pad + "try:", line)
            self.body(stmt.body, depth + 1, line)
            for handler in stmt.handlers:
                clause = "except" + (f" {ast.unparse(handler.type)}" if handler.type else "")
                clause += f" as {handler.name}" if handler.name else ""
                handler_line = self.parsed.line(handler)
                self.add(pad + clause + ":", handler_line)
                self.body(handler.body, depth + 1, handler_line)
            self._else(stmt.orelse, depth, line)
            if stmt.finalbody:
                self.add(pad + "finally:", self.parsed.line(stmt.finalbody[0]))
                self.body(stmt.finalbody, depth + 1, line)
        else:
            self.add("\n".join(pad + text for text in ast.unparse(stmt).splitlines()), line)

    def _if(self, stmt: ast.If, depth: int, line: int, keyword: str) -> None:
        self.add("    " * depth + f"{keyword} {ast.unparse(stmt.test)}:", line)
        self.body(stmt.body, depth + 1, line)
        orelse = stmt.orelse
        if len(orelse) == 1 and isinstance(orelse[0], ast.If):
            nested = orelse[0]
            self._if(nested, depth, self.parsed.line(nested) if hasattr(nested, "lineno") else line, "elif")
        else:
            self._else(orelse, depth, line)

    def _else(self, orelse: Sequence[ast.stmt], depth: int, line: int) -> None:
        if orelse:
            first = self.parsed.line(orelse[0]) if hasattr(orelse[0], "lineno") else line
            self.add("    " * depth + "else:", first)
            self.body(orelse, depth + 1, first)


__all__ = ["Emitter"]
