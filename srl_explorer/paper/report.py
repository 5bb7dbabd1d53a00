"""The reproduction report: ``report.md`` with the summary table, the verdicts on the paper's claims and
each chart as PNG (static) and HTML (interactive), written into a reproduction directory."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from ..fmt import fmt_num
from ..losses import loss_label
from ..rundir import RunDir, read_json
from ..viz import save_html, save_png
from .charts import report_charts
from .claims import FADE, STS_TOL, WINDOW, evaluate_claims, summary_table
from .evidence import RunMetrics, load_reproduction

REPORT = "report.md"

STARTING_MODEL_NOTE = (
    "The paper fine-tunes BERT-base, pretrained with masked language modelling "
    "only, on a million Wikipedia sentences: its sentence embeddings start poor, every loss has much to gain, "
    "and InfoNCE's p_pos starts low and rises during training, which is when its gradient dissipates. "
    "The `cpu-small` preset starts from all-MiniLM-L6-v2, which was already trained on about a billion "
    "sentence pairs: it scores high on STS-B dev before any training here, InfoNCE's p_pos is close to 1 "
    "from the first step (its gradient is dissipated before training begins), and more unsupervised "
    "training can easily move it away from where it was tuned. Small-scale results may therefore differ "
    "from the paper's; the `paper` preset (BERT, wiki1m, a GPU) compares like with like.")


def table_markdown(rows: Sequence[dict]) -> str:
    out = ["| loss | state | steps | dev STS at step 0 | best trained dev STS (step) | last dev STS | drop from peak "
           "| final dev alignment | final dev uniformity |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        best = f"{fmt_num(r['best'])} ({r['best_step']})" if r["best"] is not None else "–"
        out.append(f"| {loss_label(r['label'])} | {r['state']} | {r['steps']} | {fmt_num(r['start'])} | {best} "
                   f"| {fmt_num(r['last'])} | {fmt_num(r['drop'])} | {fmt_num(r['dev_align'], '.3f')} "
                   f"| {fmt_num(r['dev_uniform'], '.3f')} |")
    return "\n".join(out)


def _settings_markdown(manifest: dict) -> str:
    s = manifest.get("settings", {})
    keys = ("model", "pooler", "mlp_only_train", "train_file", "dev_file", "max_steps", "epochs", "batch_size",
            "lr", "max_seq_length", "eval_every", "seed")
    lines = [f"- `{k}`: {s[k] if s.get(k) is not None else 'default'}" for k in keys if k in s]
    for loss, info in manifest.get("runs", {}).items():
        if info.get("seconds") is not None:
            lines.append(f"- {loss_label(loss)}: {info.get('state')} in {info['seconds'] / 60:.1f} min")
    if manifest.get("seconds") is not None:
        lines.append(f"- total wall time: {manifest['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def write_report(repro_dir: str | os.PathLike, metrics: Sequence[RunMetrics] | None = None) -> Path:
    """Write ``report.md`` plus ``<chart>.png`` and ``<chart>.html`` for each chart; returns the report path."""
    repro_dir = Path(repro_dir)
    manifest = read_json(RunDir(repro_dir).reproduction_file, {}) or {}
    metrics = load_reproduction(repro_dir) if metrics is None else list(metrics)
    preset = f" (preset `{manifest['preset']}`)" if manifest.get("preset") else ""
    md = [f"# Reproduction `{repro_dir.name}`{preset}",
          "", f"Written {time.strftime('%Y-%m-%d %H:%M')}. "
          + (f"Command: `{manifest['command']}`" if manifest.get("command") else ""), "",
          "## Settings (the same for every loss)", "", _settings_markdown(manifest), "",
          "## Results", "", table_markdown(summary_table(metrics)), "",
          "Dev STS is the Spearman correlation (×100) on the dev pairs. Step 0 is the starting model, shared by "
          "every loss; *best* is over the evaluations after training began, and *drop from peak* = best − last "
          "is the overfitting indicator. Dev alignment and uniformity are Wang & Isola's (lower is better) at the last "
          "evaluation.", "", "## The paper's claims", ""]
    for i, c in enumerate(evaluate_claims(metrics), 1):
        md += [f"{i}. **{c.claim}**  ", f"   Verdict: **{c.verdict}**. {c.evidence}", ""]
    md += [f"Verdict thresholds: dev-STS differences under {STS_TOL} points count as ties; a gradient fades when "
           f"its median over the last {WINDOW:.0%} of steps is under {FADE:.0%} of its median over the first "
           f"{WINDOW:.0%}.",
           "", "## Charts", ""]
    for chart in report_charts(metrics):
        save_png(chart, repro_dir / f"{chart.key}.png")
        save_html(chart, repro_dir / f"{chart.key}.html")
        md += [f"### {chart.title}", "", f"![{chart.key}]({chart.key}.png)  ",
               f"[interactive version]({chart.key}.html)", ""]
    md += ["## The starting model", "", STARTING_MODEL_NOTE, ""]
    path = repro_dir / REPORT
    path.write_text("\n".join(md), encoding="utf-8")
    return path
