"""What the commands print besides their results: where to see them in the MLflow UI."""

from __future__ import annotations

import shlex

from freeze_study import tracking


def say_ui(pages: list[tuple[str, str]], command: list[str] | None = None, doing: str = "serve it with") -> None:
    """Where to see it in the MLflow UI and, for a local store, the command that serves it."""
    command = command or tracking.ui.serve_command()
    print("MLflow UI" + (f" ({doing} `{shlex.join(command)}`):" if command else ":"))
    width = max(len(name) for name, _ in pages)
    for name, url in pages:
        print(f"  {name + ':':<{width + 1}} {url}")
