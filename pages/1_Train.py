"""Train: configure a run, launch it as a separate process, and watch it live."""
import time

import streamlit as st

from srl_explorer import jobs, runs
from srl_explorer.data import DataError, parse_lines, sample_corpus_path
from srl_explorer.encoder import DEFAULT_MODEL, POOLERS
from srl_explorer.losses import LOSSES, loss_hyperparameters
from srl_explorer.plots import live_panels
from srl_explorer.ui.common import POLL_SECONDS, checkpoint_root, run_records, setup_page, state_badge

HP_HELP = {
    "temp": "temperature τ: lower sharpens the softmax over in-batch negatives",
    "margin": "margin m the positive must beat the hardest negative by (MPT: cosine, MET: distance, MAT: × π radians)",
    "lam": "λ: weight of uniformity against alignment (0 = alignment only)",
    "alpha": "α: exponent of the positive-pair distance in alignment",
    "t": "t: sharpness of the Gaussian potential in uniformity",
}

setup_page("Train", "🏋️")
st.title("Train")
root = checkpoint_root()

with st.expander("New run", expanded=not runs.list_runs(root)):
    c1, c2 = st.columns(2)
    with c1:
        model_kind = st.radio("Model", ["Packaged all-MiniLM-L6-v2", "Hugging Face id", "Local path"], horizontal=True)
        model = DEFAULT_MODEL if model_kind.startswith("Packaged") else st.text_input(
            "Model id or path", placeholder="bert-base-uncased" if model_kind == "Hugging Face id" else "/path/to/model")
        corpus_kind = st.radio("Corpus", ["Sample (shipped)", "Local file", "Upload .txt", "Hub dataset id"], horizontal=True)
        corpus_path = upload = None
        if corpus_kind == "Local file":
            corpus_path = st.text_input("Corpus path (.txt one sentence a line, or STS .csv/.tsv)")
        elif corpus_kind == "Upload .txt":
            upload = st.file_uploader("Corpus (.txt, one sentence per line)", type=["txt"])
        elif corpus_kind == "Hub dataset id":
            corpus_path = st.text_input("Dataset id", placeholder="princeton-nlp/datasets-for-simcse")
        st.caption(f"The sample corpus is `{sample_corpus_path().name}` (shipped, offline).")
        dev_file = st.text_input("Dev pairs for STS Spearman (empty: shipped sample pairs)")
    with c2:
        loss = st.selectbox("Loss", list(LOSSES), help="see the Paper page for what each loss does")
        hparams = {}
        hp_cols = st.columns(max(1, len(loss_hyperparameters(loss))))
        for col, (name, default) in zip(hp_cols, loss_hyperparameters(loss).items()):
            hparams[name] = col.number_input(name, value=float(default), format="%.4f", help=HP_HELP.get(name), key=f"hp-{loss}-{name}")
        a, b, c = st.columns(3)
        max_steps = a.number_input("Steps", 1, 1_000_000, 60)
        batch_size = b.number_input("Batch size (per process)", 2, 4096, 32)
        lr = c.number_input("Learning rate", 1e-7, 1.0, 3e-5, format="%.1e")
        a, b, c = st.columns(3)
        max_seq_length = a.number_input("Max sequence length", 8, 512, 32)
        eval_every = b.number_input("Eval every (steps)", 1, 100_000, 20)
        seed = c.number_input("Seed", 0, 2**31 - 1, 42)
        pooler = st.selectbox("Pooler", POOLERS, index=POOLERS.index("avg"))
        nproc = st.number_input("GPUs per node (for the torchrun command)", 1, 64, 2)

    cfg = {"loss": loss, "model": None if model == DEFAULT_MODEL else model, "pooler": pooler,
           "train_file": corpus_path or None, "dev_file": dev_file or None, "max_steps": int(max_steps),
           "batch_size": int(batch_size), "lr": lr, "max_seq_length": int(max_seq_length),
           "eval_every": int(eval_every), "seed": int(seed), **hparams}
    st.markdown("Equivalent command line:")
    st.code(jobs.cli_command(cfg), language="bash")
    st.markdown(f"On {int(nproc)} GPUs (global batch {int(nproc) * int(batch_size)}):")
    st.code(jobs.torchrun_command(cfg, int(nproc)), language="bash")

    if st.button("Start training", type="primary"):
        error = None
        if model_kind != "Packaged all-MiniLM-L6-v2" and not model:
            error = "enter a model id or path"
        elif corpus_kind in ("Local file", "Hub dataset id") and not corpus_path:
            error = "enter a corpus path or dataset id"
        elif corpus_kind == "Upload .txt" and upload is None:
            error = "choose a .txt file to upload"
        lines = None
        if not error and upload is not None:
            try:
                lines = parse_lines(upload.getvalue(), upload.name)
                if len(lines) < batch_size:
                    error = f"{upload.name}: {len(lines)} sentences, fewer than the batch size {batch_size}"
            except DataError as e:
                error = str(e)
        if error:
            st.error(error)
        else:
            name = runs.new_run_name(loss, root)
            run_dir = runs.run_dir_for(name, root)
            run_dir.mkdir(parents=True)
            if lines is not None:
                (run_dir / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                cfg["train_file"] = str(run_dir / "corpus.txt")
            jobs.launch(cfg, run_dir)
            status = jobs.wait_for_status(run_dir, timeout=30)
            if status.get("state") == "failed":
                st.error(status.get("error") or "the run failed to start")
            st.session_state["train_run"] = name
            st.query_params["run"] = name

all_runs = runs.list_runs(root)
if not all_runs:
    st.info("No runs yet.")
    st.stop()
names = [r.name for r in all_runs]
wanted = st.query_params.get("run") or st.session_state.get("train_run")
live = [r.name for r in all_runs if r.state == "running"]
default = wanted if wanted in names else (live[0] if live else names[0])
selected = st.selectbox("Run", names, index=names.index(default),
                        format_func=lambda n: f"{n}  —  {state_badge(runs.read_status(root / n).get('state', '?'))}")
st.query_params["run"] = selected
run_dir = root / selected


def render_run() -> None:
    status = runs.read_status(run_dir)
    records = run_records(run_dir)
    state, step, total = status.get("state", "unknown"), int(status.get("step") or 0), status.get("max_steps") or 0
    top = st.columns([3, 1])
    with top[0]:
        eta = ""
        steps_done = [r for r in records if "loss" in r]
        if state == "running" and len(steps_done) >= 2 and total:
            rate = (steps_done[-1]["elapsed_s"] - steps_done[0]["elapsed_s"]) / max(1, len(steps_done) - 1)
            eta = f" · ETA {time.strftime('%H:%M:%S', time.gmtime(rate * (total - step)))}"
        st.progress(min(1.0, step / total) if total else 0.0,
                    text=f"{state_badge(state)} · step {step}/{total or '?'}{eta}")
    with top[1]:
        if state == "running" and st.button("⏹ Stop", key=f"stop-{selected}"):
            runs.request_stop(run_dir)
            st.toast("Stop requested; the run ends after its current step.")
    if state in ("failed", "killed") and status.get("error"):
        st.error(f"Run {state}: {status['error']}")
    if status.get("best") is not None:
        st.caption(f"best STS dev Spearman {status['best']:.2f} at step {status.get('best_step')}")
    if records:
        st.plotly_chart(live_panels(records), width="stretch", key=f"live-{selected}")
    else:
        st.info("Waiting for the first metrics…")
    if state != "running" and st.session_state.get("_was_live") == selected:
        st.session_state["_was_live"] = None
        st.rerun()  # leave polling mode once the run ends
    if state == "running":
        st.session_state["_was_live"] = selected


if runs.read_status(run_dir).get("state") == "running":
    st.fragment(run_every=POLL_SECONDS)(render_run)()
else:
    render_run()

with st.expander("Configuration and log"):
    st.json(runs.read_json(run_dir / "config.json", {}))
    log = run_dir / "train.log"
    if log.exists():
        st.code(log.read_text(errors="replace")[-4000:] or "(empty)")
