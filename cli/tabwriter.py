"""Go's ``text/tabwriter`` (elastic tabstops), set up as Docker's tables use it:
minimum cell width 10, padding 3, spaces. A cell is text ending in a tab; the text after
the last tab of a line is not part of a column and is never padded. A column's width is
set by the contiguous block of lines that have a cell in it."""

from __future__ import annotations

MIN_WIDTH = 10
PADDING = 3


def align(text: str, min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align the tab-terminated cells of ``text``."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format(lines, 0, len(lines), [], out, min_width, padding)
    return "\n".join(out)


def _format(
    lines: list[list[str]],
    line0: int,
    line1: int,
    widths: list[int],
    out: list[str],
    min_width: int,
    padding: int,
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        # a block of lines with a cell in this column starts here
        _write(lines, line0, this, widths, out)
        line0 = this
        width = min_width
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, line0, this, [*widths, width], out, min_width, padding)
        line0 = this
    _write(lines, line0, line1, widths, out)


def _write(
    lines: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]
) -> None:
    for cells in lines[line0:line1]:
        text = []
        for j, cell in enumerate(cells):
            text.append(cell.ljust(widths[j]) if j < len(widths) else cell)
        out.append("".join(text))
