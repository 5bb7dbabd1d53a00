"""The Home page's runs: the table (with each run's note and disk use) and the actions on one run --
rename, note, delete with a confirmation step. The actions are ``rundir``'s; a live run is refused
with its one-line message. Buttons act in ``on_click`` callbacks, before the page reruns, so the
table and the picker show the result of the click."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from .. import rundir
from .common import state_badge

KEY = "runs-"  # session-state keys of this panel


def runs_frame(root: Path) -> pd.DataFrame:
    """One row per run: status, loss, steps, last loss, best STS dev, note, disk (MB), start time."""
    rows = []
    for r in rundir.list_runs(root):
        s = rundir.run_summary(r)
        rows.append({"run": s["run"], "status": state_badge(s["state"]), "loss fn": s["loss"],
                     "step": f"{s['step']}/{s['max_steps'] or '?'}", "last loss": s["last_loss"],
                     "best STS dev": s["best"], "note": s["note"], "disk (MB)": s["disk"] / 2**20,
                     "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started"])) if s["started"] else ""})
    return pd.DataFrame(rows)


def show_table(root: Path) -> None:
    table = runs_frame(root)
    if table.empty:
        st.info(f"No runs yet in `{root}`. Start one on the Train page.")
        return
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"disk (MB)": st.column_config.NumberColumn(format="%.1f")})
    st.caption(f"{len(table)} run(s), {rundir.format_bytes(rundir.disk_usage(root))} on disk in `{root}`.")


def targets(root: Path) -> list[str]:
    """What the actions can act on: every listed run, and each reproduction folder as a whole."""
    runs = [r.name for r in rundir.list_runs(root)]
    groups = sorted(d.name for d in root.iterdir() if rundir.RunDir(d).is_reproduction()) if root.is_dir() else []
    return runs + groups


def _flash(kind: str, text: str) -> None:
    st.session_state[KEY + "flash"] = (kind, text)


def _rename(root: Path, name: str) -> None:
    try:
        new = rundir.rename_run(root / name, st.session_state.get(KEY + "new-name", ""), root)
    except (rundir.RunError, OSError) as e:
        _flash("error", str(e))
        return
    new_name = new.relative_to(root.resolve()).as_posix()
    st.session_state[KEY + "selected"] = new_name
    st.session_state[KEY + "new-name"] = ""
    _flash("success", f"Renamed {name} to {new_name}.")


def _save_note(root: Path, name: str) -> None:
    try:
        rundir.write_note(root / name, st.session_state.get(f"{KEY}note-{name}", ""))
    except (rundir.RunError, OSError) as e:
        _flash("error", str(e))
        return
    _flash("success", f"Note of {name} saved.")


def _ask_delete(root: Path, name: str) -> None:
    try:
        rundir.refuse_live(root / name, "delete")
    except rundir.RunError as e:
        _flash("error", str(e))
        return
    st.session_state[KEY + "confirm"] = name


def _delete(root: Path, name: str) -> None:
    st.session_state.pop(KEY + "confirm", None)
    try:
        rundir.delete_run(root / name, root)
    except (rundir.RunError, OSError) as e:
        _flash("error", str(e))
        return
    st.session_state.pop(KEY + "selected", None)
    _flash("success", f"Deleted {name}.")


def _cancel() -> None:
    st.session_state.pop(KEY + "confirm", None)


def manage_runs(root: Path) -> None:
    """Pick a run; rename it, edit its note, or delete it (after a confirmation)."""
    flash = st.session_state.pop(KEY + "flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])
    names = targets(root)
    if not names:
        return
    if st.session_state.get(KEY + "selected") not in names:
        st.session_state[KEY + "selected"] = names[0]
    name = st.selectbox("Run", names, key=KEY + "selected",
                        help="a listed run, or a reproduction folder (all of its runs)")
    path = root / name
    group = rundir.RunDir(path).is_reproduction()
    st.caption(f"{rundir.format_bytes(rundir.disk_usage(path))} on disk"
               + (f", {len(rundir.list_runs(path))} run(s)" if group else ""))
    rename_col, note_col, delete_col = st.columns([2, 3, 2])
    with rename_col:
        st.text_input("New name", key=KEY + "new-name", placeholder="letters, digits, '.', '_' and '-'")
        st.button("Rename", key=KEY + "rename", on_click=_rename, args=(root, name))
    with note_col:
        note_key = f"{KEY}note-{name}"
        if note_key not in st.session_state:
            st.session_state[note_key] = rundir.read_note(path)
        st.text_area("Note", key=note_key, height=80, help=f"kept in the run folder as {rundir.NOTE}")
        st.button("Save note", key=KEY + "save-note", on_click=_save_note, args=(root, name))
    with delete_col:
        if st.session_state.get(KEY + "confirm") == name:
            st.warning(f"Delete {name} ({rundir.format_bytes(rundir.disk_usage(path))})? This cannot be undone.")
            yes, no = st.columns(2)
            yes.button("Yes, delete", key=KEY + "yes", type="primary", on_click=_delete, args=(root, name))
            no.button("Cancel", key=KEY + "cancel", on_click=_cancel)
        else:
            st.button("Delete…", key=KEY + "delete", on_click=_ask_delete, args=(root, name))
