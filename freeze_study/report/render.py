"""The report: figures, report.md and a self-contained report.html, logged to the sweep's parent run.

Run it with `freeze-study report` (the newest sweep in the experiment) or give a sweep's
parent run id; the folder is logged back as artifacts of the parent, under `report/`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import mlflow
import pandas as pd

import freeze_study.names as N
from freeze_study.report import figures
from freeze_study.report.store import FREEZE, FROZEN_STAGES, ReportError, load_runs
from freeze_study.report.summary import findings, pct_trainable, summarize


def _cell(level: pd.Series, key: str, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """'93.8 ± 1.1% (n=3)'."""
    mean, std = level[f"{key}_mean"] * scale, level[f"{key}_std"] * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}{unit} (n={level['n']})"


def _table(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = [
        "freeze",
        "frozen stages",
        "trainable parameters",
        "fit time",
        "epochs run",
        "best epoch (0-based)",
        "validation accuracy",
        "test accuracy",
    ]
    rows = [
        [
            str(level[FREEZE]),
            str(level[FROZEN_STAGES]).replace(",", ", "),
            f"{level[N.TRAINABLE_PARAMS]:,.0f} ({pct_trainable(level)})",
            _cell(level, N.FIT_TIME, unit=" s"),
            _cell(level, N.EPOCHS_RUN),
            _cell(level, N.BEST_EPOCH),
            _cell(level, N.VAL_ACC, 100, unit="%"),
            _cell(level, N.TEST_ACC, 100, unit="%"),
        ]
        for _, level in summary.iterrows()
    ]
    return header, rows


def write_report(client: mlflow.MlflowClient, sweep_run_id: str, out_dir: Path) -> Path:
    """Write the figures, report.md and report.html to `out_dir` and log them to the sweep's parent run."""
    runs, history = load_runs(client, sweep_run_id)
    if runs.empty:
        raise ReportError(f"sweep '{sweep_run_id}' has no FINISHED child runs yet: nothing to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs)
    drawn = figures.draw_all(runs, history, out_dir)  # [(file name, caption)]
    parent = client.get_run(sweep_run_id)
    experiment = client.get_experiment(parent.info.experiment_id).name
    title = f"Freeze study: sweep {sweep_run_id}"
    intro = (
        f"Experiment '{experiment}', sweep run '{parent.info.run_name}': {len(runs)} finished runs over "
        f"{len(summary)} freeze levels. Values are mean ± sample std over seeds; validation accuracy is at "
        f"the best epoch (lowest validation loss), whose checkpoint was tested."
    )
    header, rows = _table(summary)
    notes = findings(summary)
    md = [
        f"# {title}",
        "",
        intro,
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "## Findings",
        "",
        *(f"- {n}" for n in notes),
        "",
        "## Figures",
        "",
    ]
    md += [line for name, caption in drawn for line in (f"![{caption}]({name})", "", f"*{caption}*", "")]
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out_dir / "report.html").write_text(_html(title, intro, header, rows, notes, drawn, out_dir), encoding="utf-8")
    client.log_artifacts(sweep_run_id, str(out_dir), artifact_path=N.REPORT_ARTIFACT)
    return out_dir


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.92em}"
    "th,td{border:1px solid #ccc;padding:.35em .6em;text-align:right}th{background:#f2f2f2}"
    "td:nth-child(2){text-align:left}figure{margin:2em 0}img{max-width:100%}figcaption{color:#555}"
)


def _html(
    title: str,
    intro: str,
    header: list[str],
    rows: list[list[str]],
    notes: list[str],
    drawn: list[tuple[str, str]],
    out_dir: Path,
) -> str:
    """The report as one self-contained page: figures inline as base64 PNGs."""
    e = html.escape
    cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    figs = "".join(
        f'<figure><img alt="{e(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode((out_dir / name).read_bytes()).decode()}"><figcaption>{e(caption)}'
        f"</figcaption></figure>"
        for name, caption in drawn
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style>'
        f"</head><body><h1>{e(title)}</h1><p>{e(intro)}</p><table><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in header)
        + f"</tr>{cells}</table><h2>Findings</h2><ul>"
        + "".join(f"<li>{e(n)}</li>" for n in notes)
        + f"</ul><h2>Figures</h2>{figs}</body></html>\n"
    )
