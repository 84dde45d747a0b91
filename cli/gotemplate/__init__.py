"""Go ``text/template``, as Docker's CLI runs it for ``--format``: the language (fields,
pipes, ``if``/``else``/``range``/``with``, variables, ``{{- -}}`` trimming, comments,
``break``/``continue``), Go's builtin functions and Docker's own, with Go's error texts.

Not supported: ``define``/``template``/``block`` (one anonymous template only) and
complex numbers. Data is JSON-shaped Python (see ``values``) or ``GoObject`` contexts.

    tmpl = Template("{{range .Containers}}{{.IPv4Address}} {{end}}")
    tmpl.execute(network, missingkey_error=True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from cli.gotemplate.execute import ExecError, State
from cli.gotemplate.funcs import FUNCTIONS, HEADER, Func
from cli.gotemplate.nodes import ListNode
from cli.gotemplate.parse import ParseError, Parser
from cli.gotemplate.values import MISSING, GoMap, GoObject, Member

__all__ = [
    "ExecError",
    "GoMap",
    "GoObject",
    "HEADER",
    "MISSING",
    "Member",
    "ParseError",
    "Template",
    "TemplateError",
]

TemplateError = (ParseError, ExecError)


class Template:
    """One parsed template; ``ParseError`` if ``text`` does not parse."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root: ListNode = Parser(text, FUNCTIONS).parse()

    def execute(
        self,
        data: Any,
        *,
        missingkey_error: bool = False,
        functions: Mapping[str, Func] | None = None,
    ) -> str:
        """Render ``data``; ``ExecError`` on failure (no partial output is returned).

        ``missingkey_error``: Go's ``Option("missingkey=error")``, which Docker sets when
        it inspects raw JSON. ``functions`` override same-named ones (Docker's header
        functions when it renders a table's header row).
        """
        funcs = FUNCTIONS if not functions else {**FUNCTIONS, **functions}
        state = State(self.text, data, funcs, missingkey_error)
        state.walk(state.vars[0][1], self.root)
        return "".join(state.out)

    def execute_partial(self, data: Any, *, functions: Mapping[str, Func] | None = None) -> str:
        """Like ``execute``, but an error ends the output where it happened instead of
        raising (Docker ignores errors while it writes a table's header row)."""
        funcs = FUNCTIONS if not functions else {**FUNCTIONS, **functions}
        state = State(self.text, data, funcs, False)
        with contextlib.suppress(ExecError):
            state.walk(state.vars[0][1], self.root)
        return "".join(state.out)
