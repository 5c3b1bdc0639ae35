"""The report as text: one list of blocks (headings, paragraphs, tables, lists, figures) written as
report.md and as a self-contained report.html (figures inline as base64 PNGs, no external resources)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Block:
    """One piece of the report: kind is h1, h2, p, note (said before any number), ul, table or figure."""

    kind: str
    text: str = ""  # heading, paragraph or note text; a figure's caption
    items: list[str] = field(default_factory=list)  # list items
    header: list[str] = field(default_factory=list)  # table header
    rows: list[list[str]] = field(default_factory=list)  # table rows
    image: str = ""  # a figure's file name, in the report's folder
    css: str = ""  # an HTML class for a table


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown (figures as relative image links)."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out += [f"# {b.text}", ""]
        elif b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "note":
            out += [f"> **{b.text}**", ""]
        elif b.kind == "ul":
            out += [*(f"- {item}" for item in b.items), ""]
        elif b.kind == "table":
            out += [
                "| " + " | ".join(map(_md_cell, b.header)) + " |",
                "|" + "---|" * len(b.header),
                *("| " + " | ".join(map(_md_cell, row)) + " |" for row in b.rows),
                "",
            ]
        elif b.kind == "figure":
            out += [f"![{b.text}]({b.image})", "", f"*{b.text}*", ""]
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.35em .6em;text-align:right;vertical-align:top}th{background:#f2f2f2}"
    "td:first-child,th:first-child{text-align:left}table.context td{text-align:left}"
    ".note{background:#fff4d6;border-left:4px solid #e0a800;padding:.6em 1em;font-weight:600}"
    "figure{margin:2em 0}img{max-width:100%;height:auto}figcaption{color:#555}"
)


def page(title: str, blocks: list[Block], folder: Path) -> str:
    """The blocks as one self-contained HTML page; figures are read from `folder` and inlined."""
    e = html.escape
    parts = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            parts.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "note":
            parts.append(f'<p class="note">{e(b.text)}</p>')
        elif b.kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            cls = f' class="{b.css}"' if b.css else ""
            head = "".join(f"<th>{e(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            parts.append(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            data = base64.b64encode((folder / b.image).read_bytes()).decode()
            parts.append(
                f'<figure><img alt="{e(b.text)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(b.text)}</figcaption></figure>"
            )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body>{''.join(parts)}</body></html>\n"
    )
