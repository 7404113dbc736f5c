"""Text from a record escaped for where it is rendered: the terminal, Markdown, HTML.

Every review command renders record text (names, param keys, metric names, values, notes)
through one of these: a terminal gets no control character (an escape sequence in a run's
``name`` would recolour, move or retitle the terminal), Markdown gets no line, cell or HTML of
the user's, HTML gets entities.
"""

from __future__ import annotations

from gitlab_journal.journal.escape import controls_visible, md_cell, md_code

__all__ = ["html_text", "md_cell", "md_code", "terminal", "terminal_lines"]


def terminal(text: object) -> str:
    """One line for the terminal: every control character (newline and tab too, ESC, C1)
    written out as ``\\x..``, so none is emitted."""
    return controls_visible(str(text))


def terminal_lines(text: object) -> str:
    """Several lines for the terminal: the line breaks kept, every other control character
    written out."""
    return "\n".join(terminal(line) for line in str(text).splitlines())


def html_text(text: object) -> str:
    """Text for HTML, attributes included: entities for ``<>&"'``, control characters
    written out."""
    import html  # not paid by `log`, which escapes for the terminal only

    return html.escape(controls_visible(str(text)), quote=True)
