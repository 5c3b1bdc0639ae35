"""How a sweep's runs are read back and reported: MLflow → tidy tables → figures → report.md / report.html.

Run it with `freeze-study report` (the newest sweep in the experiment) or give a
sweep's parent run id. Everything is read through `MlflowClient`, so it works the
same against a local SQLite store or a remote `mlflow server`; the report folder
is logged back as artifacts of the sweep's parent run, under `report/`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
import numpy as np
import pandas as pd

import freeze_study.config as C
from freeze_study import tracking

FINISHED = RunStatus.to_string(RunStatus.FINISHED)

# Columns of the tidy tables; the first three are the TrainConfig fields / param names that train.py logs.
FREEZE, SEED, FROZEN_STAGES = C.FREEZE_PARAM, C.SEED_PARAM, C.FROZEN_STAGES_PARAM
RUN_ID, EPOCH, METRIC, VALUE = "run_id", "epoch", "metric", "value"
SUMMARY_METRICS = (C.FIT_TIME, C.EPOCHS_RUN, C.BEST_EPOCH, C.TRAIN_ACC, C.VAL_ACC, C.TEST_ACC)
WITHIN_PP = 1.0  # "as good as the best": mean test accuracy within this many percentage points
LARGE_GAP_PP = 5.0  # a train − validation accuracy gap worth pointing out


class ReportError(ValueError):
    """No sweep to report on, or a sweep with nothing finished; the message says which."""


def latest_sweep(client: mlflow.MlflowClient, experiment_name: str) -> str | None:
    """The id of the newest sweep parent run (by start time) in the experiment, or None."""
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], f"tags.`{C.ROLE_TAG}` = '{C.SWEEP_ROLE}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def resolve_sweep(client: mlflow.MlflowClient, experiment_name: str, sweep_id: str | None = None) -> str:
    """The sweep to report on: `sweep_id` checked to be a sweep parent, else the experiment's newest."""
    if sweep_id is None:
        found = latest_sweep(client, experiment_name)
        if found is None:
            raise ReportError(f"no sweep runs in experiment '{experiment_name}' (run `freeze-study sweep` first)")
        return found
    try:
        run = client.get_run(sweep_id)
    except mlflow.exceptions.MlflowException:
        raise ReportError(f"no run with id '{sweep_id}' in the tracking store") from None
    role = run.data.tags.get(C.ROLE_TAG)
    if role != C.SWEEP_ROLE:
        raise ReportError(f"run '{sweep_id}' is not a sweep parent run (tag {C.ROLE_TAG}={role!r}, "
                          f"expected '{C.SWEEP_ROLE}')")
    return sweep_id


def _history(client: mlflow.MlflowClient, run_id: str, key: str) -> pd.Series:
    """value by epoch; a step logged twice keeps its latest value."""
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return pd.Series({m.step: m.value for m in points}, dtype=float)


def _at(series: pd.Series, epoch: float) -> float:
    """The value at `epoch`, else the series' best (max), else NaN."""
    if not np.isnan(epoch) and int(epoch) in series.index:
        return float(series[int(epoch)])
    return float(series.max()) if len(series) else float("nan")


def load_runs(client: mlflow.MlflowClient, sweep_run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, history) of the sweep's FINISHED child runs: one row per run, and one row per run × epoch × metric."""
    rows, long = [], []
    for run in tracking.child_runs(client, sweep_run_id, FINISHED):
        params, metrics, run_id = run.data.params, run.data.metrics, run.info.run_id
        freeze, seed = int(params[FREEZE]), int(params[SEED])
        curves = {key: _history(client, run_id, key) for key in C.EPOCH_METRICS}
        best = metrics.get(C.BEST_EPOCH, float("nan"))
        rows.append({RUN_ID: run_id, FREEZE: freeze, SEED: seed, FROZEN_STAGES: params.get(FROZEN_STAGES, ""),
                     **{key: metrics.get(key, float("nan")) for key in C.ONCE_METRICS},
                     C.TRAIN_ACC: _at(curves[C.TRAIN_ACC], best),  # at the checkpoint that was tested
                     C.VAL_ACC: _at(curves[C.VAL_ACC], best)})
        long += [(run_id, freeze, seed, int(step), key, value)
                 for key, curve in curves.items() for step, value in curve.items()]
    columns = [RUN_ID, FREEZE, SEED, FROZEN_STAGES, C.TRAINABLE_PARAMS, C.TOTAL_PARAMS, C.FIT_TIME,
               C.EPOCHS_RUN, C.BEST_EPOCH, C.TRAIN_ACC, C.VAL_ACC, C.TEST_ACC, C.TEST_LOSS]
    runs = pd.DataFrame(rows, columns=columns).sort_values([FREEZE, SEED], ignore_index=True)
    for key in (C.TRAINABLE_PARAMS, C.TOTAL_PARAMS, C.EPOCHS_RUN, C.BEST_EPOCH):
        if runs[key].notna().all():  # counts read back as floats; keep them ints when every run has them
            runs[key] = runs[key].astype(int)
    history = pd.DataFrame(long, columns=[RUN_ID, FREEZE, SEED, EPOCH, METRIC, VALUE])
    return runs, history.sort_values([FREEZE, SEED, METRIC, EPOCH], ignore_index=True)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per freeze level: stages, trainable params (and % of all), n seeds, mean and std of each result."""
    by_level = runs.groupby(FREEZE)
    out = by_level.agg(**{FROZEN_STAGES: (FROZEN_STAGES, "first"), C.TRAINABLE_PARAMS: (C.TRAINABLE_PARAMS, "first"),
                          C.TOTAL_PARAMS: (C.TOTAL_PARAMS, "first"), "n": (RUN_ID, "size")})
    out["pct_trainable"] = out[C.TRAINABLE_PARAMS] / out[C.TOTAL_PARAMS] * 100
    for key in SUMMARY_METRICS:
        out[f"{key}_mean"] = by_level[key].mean()
        out[f"{key}_std"] = by_level[key].std(ddof=1).fillna(0.0)  # sample std; 0 with a single seed
    return out.reset_index()


def level_name(freeze: int) -> str:
    """'freeze=2 (stem–layer2)': the level and the range of stages it freezes."""
    stages = C.TrainConfig(freeze=int(freeze)).frozen_stages
    return f"freeze={freeze} ({f'{stages[0]}–{stages[-1]}' if stages else 'nothing frozen'})"


def findings(summary: pd.DataFrame) -> list[str]:
    """A few sentences computed from the per-level summary: best level, cheapest near-best, time, overfitting."""
    s = summary.set_index(FREEZE)
    acc, n = s[f"{C.TEST_ACC}_mean"] * 100, s["n"]
    best = acc.idxmax()
    out = [f"The best mean test accuracy is {acc[best]:.1f}% (n={n[best]}), at {level_name(best)}."]
    if len(s) > 1:
        close = s[acc >= acc[best] - WITHIN_PP].sort_index(ascending=False)
        cheap = close[C.TRAINABLE_PARAMS].idxmin()
        fewer = s[s[C.TRAINABLE_PARAMS] < s.loc[best, C.TRAINABLE_PARAMS]]
        if cheap != best:
            out.append(f"{level_name(cheap)} comes within {WITHIN_PP:g} percentage point of the best "
                       f"({acc[cheap]:.1f}% vs {acc[best]:.1f}%) while training only {_params(s.loc[cheap])}, "
                       f"the fewest of any level that close.")
        elif fewer.empty:
            out.append(f"It also trains the fewest parameters of the levels run: {_params(s.loc[best])}.")
        else:
            near = acc[fewer.index].idxmax()
            out.append(f"No level that trains fewer parameters comes within {WITHIN_PP:g} percentage point of it; "
                       f"the closest is {level_name(near)} at {acc[near]:.1f}% ({acc[best] - acc[near]:.1f} "
                       f"points less), training {_params(s.loc[near])}.")
    fit, epochs = s[f"{C.FIT_TIME}_mean"], s[f"{C.EPOCHS_RUN}_mean"]
    fast, slow = fit.idxmin(), fit.idxmax()
    if fast != slow:
        out.append(f"{level_name(fast)} fits fastest ({fit[fast]:.0f} s, {epochs[fast]:.1f} epochs on average) and "
                   f"{level_name(slow)} slowest ({fit[slow]:.0f} s, {epochs[slow]:.1f} epochs): "
                   f"{fit[slow] / fit[fast]:.1f}× as long.")
    else:
        out.append(f"Mean fit time: {fit[fast]:.0f} s over {epochs[fast]:.1f} epochs.")
    gap = (s[f"{C.TRAIN_ACC}_mean"] - s[f"{C.VAL_ACC}_mean"]) * 100
    if gap.notna().any() and gap.max() <= 0:
        out.append("At the tested checkpoint, validation accuracy is at or above train accuracy at every level.")
    elif gap.notna().any():
        worst = gap.idxmax()
        large = gap.index[gap >= LARGE_GAP_PP]
        out.append(f"At the tested checkpoint, train accuracy exceeds validation accuracy most at {level_name(worst)} "
                   f"({gap[worst]:.1f} points); "
                   + (f"the gap is {LARGE_GAP_PP:g} points or more at {_levels(large)}." if len(large)
                      else f"no level's gap reaches {LARGE_GAP_PP:g} points."))
    single = n.index[n == 1]
    if len(single):
        out.append(f"{_levels(single)} ran with a single seed, so ± 0 there says nothing about seed-to-seed spread.")
    return out


def _levels(levels: pd.Index) -> str:
    return "freeze=" + ", ".join(str(k) for k in levels)


def _pct(level: pd.Series) -> str:
    pct = level["pct_trainable"]
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2g}%"  # the classifier head alone is ~0.014%


def _params(level: pd.Series) -> str:
    return f"{level[C.TRAINABLE_PARAMS]:,.0f} parameters ({_pct(level)} of the network)"


def _cell(level: pd.Series, key: str, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """'93.8 ± 1.1% (n=3)'."""
    mean, std = level[f"{key}_mean"] * scale, level[f"{key}_std"] * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}{unit} (n={level['n']})"


def _table(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["freeze", "frozen stages", "trainable parameters", "fit time", "epochs run", "best epoch (0-based)",
              "validation accuracy", "test accuracy"]
    rows = [[str(level[FREEZE]), str(level[FROZEN_STAGES]).replace(",", ", "),
             f"{level[C.TRAINABLE_PARAMS]:,.0f} ({_pct(level)})", _cell(level, C.FIT_TIME, unit=" s"),
             _cell(level, C.EPOCHS_RUN), _cell(level, C.BEST_EPOCH), _cell(level, C.VAL_ACC, 100, unit="%"),
             _cell(level, C.TEST_ACC, 100, unit="%")] for _, level in summary.iterrows()]
    return header, rows


def write_report(client: mlflow.MlflowClient, sweep_run_id: str, out_dir: Path) -> Path:
    """Write the figures, report.md and report.html to `out_dir` and log them to the sweep's parent run."""
    from freeze_study import figures  # matplotlib only when drawing

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
    intro = (f"Experiment '{experiment}', sweep run '{parent.info.run_name}': {len(runs)} finished runs over "
             f"{len(summary)} freeze levels. Values are mean ± sample std over seeds; validation accuracy is at "
             f"the best epoch (lowest validation loss), whose checkpoint was tested.")
    header, rows = _table(summary)
    notes = findings(summary)
    md = [f"# {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
          *("| " + " | ".join(row) + " |" for row in rows), "", "## Findings", "", *(f"- {n}" for n in notes),
          "", "## Figures", ""]
    md += [line for name, caption in drawn for line in (f"![{caption}]({name})", "", f"*{caption}*", "")]
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out_dir / "report.html").write_text(_html(title, intro, header, rows, notes, drawn, out_dir), encoding="utf-8")
    client.log_artifacts(sweep_run_id, str(out_dir), artifact_path="report")
    return out_dir


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
        "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.92em}"
        "th,td{border:1px solid #ccc;padding:.35em .6em;text-align:right}th{background:#f2f2f2}"
        "td:nth-child(2){text-align:left}figure{margin:2em 0}img{max-width:100%}figcaption{color:#555}")


def _html(title: str, intro: str, header: list[str], rows: list[list[str]], notes: list[str],
          drawn: list[tuple[str, str]], out_dir: Path) -> str:
    """The report as one self-contained page: figures inline as base64 PNGs."""
    e = html.escape
    cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    figs = "".join(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,'
                   f'{base64.b64encode((out_dir / name).read_bytes()).decode()}"><figcaption>{e(caption)}'
                   f"</figcaption></figure>" for name, caption in drawn)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style>'
            f"</head><body><h1>{e(title)}</h1><p>{e(intro)}</p><table><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in header) + f"</tr>{cells}</table><h2>Findings</h2><ul>"
            + "".join(f"<li>{e(n)}</li>" for n in notes) + f"</ul><h2>Figures</h2>{figs}</body></html>\n")
