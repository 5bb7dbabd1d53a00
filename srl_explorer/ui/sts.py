"""The STS page's parts: the remembered data-folder field (validated as you type), the task chips, the
evaluation of several checkpoints on tasks loaded once (one message when the hub cannot be reached, a
progress bar while encoding), and the results table and bars."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from .. import rundir
from ..data import DataError
from ..evaluation import (
    SAMPLE_TASK,
    SPLITS,
    TASKS,
    HubUnavailable,
    evaluate_model,
    load_run_results,
    load_task,
    run_and_checkpoint,
    save_run_results,
    scan_data_dir,
)
from ..viz import to_plotly
from ..viz.eval_charts import score_range, sts_score_bars
from .common import checkpoint_label, checkpoint_root, get_encoder

SETTINGS = ".app_settings.json"  # in the runs folder: what the app remembers across reloads and sessions
DATA_DIR_KEY = "sts_data_dir"
TASK_LABELS = {"sts12": "STS12", "sts13": "STS13", "sts14": "STS14", "sts15": "STS15", "sts16": "STS16",
               "stsb": "STS-B", "sickr": "SICK-R", SAMPLE_TASK: "sample (shipped)"}
HUB_MESSAGE = ("{tasks}: the Hugging Face hub cannot be reached from here, so these benchmarks cannot be "
               "downloaded. Fill in **Data folder** above (a SentEval data folder, or a folder with STS-B's "
               "`sts-dev.csv`), or pick the shipped **sample** task.")


# --------------------------------------------------------------------------- remembered settings
def settings_file() -> Path:
    return checkpoint_root() / SETTINGS


def read_setting(key: str, default=None):
    stored = rundir.read_json(settings_file(), {})
    return stored.get(key, default) if isinstance(stored, dict) else default


def write_setting(key: str, value) -> None:
    stored = rundir.read_json(settings_file(), {})
    stored = stored if isinstance(stored, dict) else {}
    if stored.get(key) != value:
        rundir.atomic_write_json(settings_file(), {**stored, key: value})


# --------------------------------------------------------------------------- data folder
def describe_found(found: dict[str, list[str]]) -> str:
    """``{"stsb": ["dev", "test"], "sts12": ["test"]}`` -> "STS12 (test), STS-B (dev, test)"."""
    return ", ".join(f"{TASK_LABELS[t]} ({', '.join(s)})" for t, s in found.items())


def data_folder_field() -> tuple[str | None, dict[str, list[str]] | None]:
    """The data-folder text field, validated as it changes and remembered in the runs folder
    (default: ``$SRL_DATA_DIR``). Returns (folder or None when empty, ``{task: splits}`` found there;
    ``None`` when the folder is unusable)."""
    default = read_setting(DATA_DIR_KEY)
    if default is None:
        env = rundir.data_dir()
        default = str(env) if env else ""
    value = st.text_input("Data folder", value=default, key="sts-data-dir",
                          placeholder="e.g. ~/SentEval/data/downstream, or a folder holding sts-dev.csv",
                          help="A SentEval data folder (STS/STS12-en-test …, STS/STSBenchmark, SICK) or a folder "
                               "with STS-B's sts-dev.csv / sts-test.csv. Empty: the benchmarks are downloaded "
                               "from the Hugging Face hub. Remembered for next time.").strip()
    if not value:
        write_setting(DATA_DIR_KEY, "")
        st.caption("No data folder: the benchmarks come from the Hugging Face hub (needs internet). "
                   "The shipped **sample** task works offline.")
        return None, {}
    try:
        found = scan_data_dir(value)
    except DataError as e:
        st.warning(f"{e}. Only the shipped **sample** task can be scored until the folder exists.")
        return value, None
    if not found:
        st.warning(f"`{value}` holds no STS data: expected a SentEval layout (STS/STS12-en-test …, "
                   "STS/STSBenchmark, SICK) or sts-dev.csv / sts-test.csv directly in it.")
        return value, None
    write_setting(DATA_DIR_KEY, value)
    st.caption(f"✓ Found {describe_found(found)}.")
    return value, found


def task_picker(found: dict[str, list[str]] | None) -> list[str]:
    """Task chips (``st.pills``: they wrap, never clip): the benchmarks the folder holds (every one when
    no folder is given: the hub) and the shipped sample."""
    options = list(TASKS) if found == {} else [t for t in TASKS if t in (found or {})]
    options.append(SAMPLE_TASK)
    default = [t for t in options if t != SAMPLE_TASK] if found else [SAMPLE_TASK]
    key = "sts-tasks-" + "-".join(options)  # a new folder offers new chips with their own defaults
    return list(st.pills("Tasks", options, selection_mode="multi", default=default, key=key,
                         format_func=TASK_LABELS.get) or [])


def split_picker(found: dict[str, list[str]] | None, tasks: list[str]) -> str:
    """dev or test, for STS-B and SICK-R (the others have one set): the splits the folder holds."""
    splits = sorted({s for t in ("stsb", "sickr") if t in tasks for s in (found or {}).get(t, [])} or SPLITS,
                    key=SPLITS.index)
    default = splits.index("dev") if "dev" in splits and found else 0
    return st.radio("Split", splits, index=default, horizontal=True,
                    help="STS-B and SICK-R: test, or dev (STS-B dev, SICK trial). STS12–16 only have test "
                         "data; the sample is one set.")


# --------------------------------------------------------------------------- evaluation
def load_for_page(tasks: list[str], split: str, folder: str | None) -> list:
    """Load each task once for every checkpoint; hub failures become one message naming the tasks,
    other data errors one message each. Returns the tasks that loaded."""
    loaded, offline = [], []
    for name in tasks:
        if offline and folder is None and name != SAMPLE_TASK:  # the same cause for every hub task: ask once
            offline.append(TASK_LABELS[name])
            continue
        try:
            loaded.append(load_task(name, split, None if name == SAMPLE_TASK else folder))
        except HubUnavailable:
            offline.append(TASK_LABELS[name])
        except DataError as e:
            st.error(str(e))
    if offline:
        st.error(HUB_MESSAGE.format(tasks=", ".join(offline)))
    return loaded


def evaluate_checkpoints(picked: list[str], choices: dict, tasks: list[str], split: str,
                         folder: str | None) -> None:
    """Score every picked checkpoint on the tasks, with one progress bar over all of them; results of a
    run's checkpoint go to its run folder, others to this session."""
    loaded = load_for_page(tasks, split, folder)
    if not loaded:
        return
    bar = st.progress(0.0, text="Loading the first model…")
    for i, label in enumerate(picked):
        path, pooler = choices[label]
        enc = get_encoder(path, pooler)
        if enc is None:
            continue

        def report(done: int, total: int, i=i, label=label) -> None:
            bar.progress(min(1.0, (i + done / max(total, 1)) / len(picked)),
                         text=f"Encoding for {label}: {done:,} / {total:,} sentences")

        try:
            res = evaluate_model(enc, loaded, split, on_progress=report)
        except (ValueError, OSError) as e:
            st.error(f"{label}: {e}")
            continue
        in_run = run_and_checkpoint(path) if pooler is None else None  # a run's own checkpoint
        if in_run:
            save_run_results(in_run[0], in_run[1], res)
        else:
            st.session_state.setdefault("sts_results", {})[f"{label} · {split}"] = res
    bar.progress(1.0, text=f"Done: {len(picked)} checkpoint(s) on {len(loaded)} task(s).")


def all_results() -> dict[str, dict]:
    """Stored results of every run's checkpoints, then this session's (checkpoints outside runs)."""
    results = {}
    for r in rundir.list_runs(checkpoint_root()):
        for ckpt, res in load_run_results(r.path).items():
            results[checkpoint_label(r, ckpt)] = res  # the pickers' labels
    results.update(st.session_state.get("sts_results", {}))
    return results


def show_results(results: dict[str, dict]) -> None:
    """The table (one row per checkpoint and split) and the bars, zoomed to the scores with values printed."""
    rows = []
    for label, res in results.items():
        row = {"checkpoint": label, "split": res.get("split")}
        row.update({t: round(v["all"], 2) for t, v in res["tasks"].items()})
        if res.get("avg_label"):
            row[res["avg_label"]] = round(res["avg"], 2)
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    scores = {label: {t: v["all"] for t, v in res["tasks"].items()} for label, res in results.items()}
    fig = to_plotly(sts_score_bars(scores, TASK_LABELS))
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_yaxes(range=list(score_range(v for vals in scores.values() for v in vals.values())))
    st.plotly_chart(fig, width="stretch")
    st.caption("The y axis is zoomed to the scores (it does not start at 0): compare the printed values.")
