"""Train: configure a run, launch it as a separate process, and watch it live."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("Train", ":material/model_training:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
from srl_explorer import DEFAULT_MODEL, POOLERS, config, jobs, rundir, runstats
from srl_explorer.data import DataError, sample_corpus_path
from srl_explorer.losses import LOSSES, hparam_names, loss_hyperparameters
from srl_explorer.rundir import RunDir
from srl_explorer.ui.charts import log_toggle, scroll_to, show_live_charts
from srl_explorer.ui.common import (
    POLL_SECONDS,
    checkpoint_root,
    config_inputs,
    job_registry,
    keep_widget_values,
    read_upload,
    run_records,
    state_badge,
)

HELP = config.help_texts()  # every field's help, from TrainConfig
DEFAULTS = config.TrainConfig()  # the form starts where `train` and `reproduce --preset cpu-small` do
ON_FORM = {"loss", "model", "pooler", "train_file", "dev_file", "max_steps", "batch_size", "lr", "max_seq_length",
           "eval_every", "seed", "output_dir", *hparam_names()}  # the rest are under "More settings"
MODEL_KINDS = ("Packaged all-MiniLM-L6-v2", "Hugging Face id", "Local path")
CORPUS_KINDS = ("Sample (shipped)", "Local file", "Upload .txt", "Hub dataset id")

st.title("Train")
root = checkpoint_root()
job_registry().reap()

started = st.session_state.pop("train-started", None)
if started:  # the rerun after Start: fold the form and go to the live charts
    st.session_state["new-run-open"] = False


def new_run_form() -> None:
    left, right = st.columns(2)
    with left:
        model_kind = st.radio("Model", MODEL_KINDS, horizontal=True, key="form-model-kind")
        model = DEFAULT_MODEL if model_kind == MODEL_KINDS[0] else st.text_input(
            "Model id or path", placeholder="bert-base-uncased" if model_kind == MODEL_KINDS[1] else "/path/to/model",
            key="form-model")
        corpus_kind = st.radio("Corpus", CORPUS_KINDS, horizontal=True, key="form-corpus-kind")
        corpus, upload = None, None
        if corpus_kind == "Local file":
            corpus = st.text_input("Corpus path (.txt one sentence a line, or STS .csv/.tsv)", key="form-corpus-path")
        elif corpus_kind == "Upload .txt":
            upload = st.file_uploader("Corpus (.txt, one sentence per line, UTF-8)", type=["txt"])
        elif corpus_kind == "Hub dataset id":
            corpus = st.text_input("Dataset id", placeholder="princeton-nlp/datasets-for-simcse", key="form-dataset")
        else:
            st.caption(f"`{sample_corpus_path().name}`: about 1,000 English sentences shipped with the package.")
        dev_file = st.text_input("Dev pairs for STS Spearman (empty: the shipped sample pairs)", help=HELP["dev_file"],
                                 key="form-dev-file")
        pooler = st.selectbox("Pooler", POOLERS, index=POOLERS.index(DEFAULTS.pooler), help=HELP["pooler"],
                              key="form-pooler")
    with right:
        loss = st.selectbox("Loss", list(LOSSES), format_func=lambda n: f"{n} ({LOSSES[n].label})",
                            help="the Paper page explains what each loss does", key="form-loss")
        hparams = {}
        defaults = loss_hyperparameters(loss)
        for col, (name, default) in zip(st.columns(max(1, len(defaults))), defaults.items(), strict=False):
            hparams[name] = col.number_input(name, value=float(default), format="%.4f", key=f"hp-{loss}-{name}")
        for name in defaults:
            st.caption(f"**{name}** ({defaults[name]:g} in the paper) — {LOSSES[loss].hparam_help[name]}")
        a, b, c = st.columns(3)
        max_steps = a.number_input("Steps", 1, 10_000_000, 60, help=HELP["max_steps"], key="form-steps")
        batch_size = b.number_input("Batch size (per process)", 2, 4096, DEFAULTS.batch_size, help=HELP["batch_size"],
                                     key="form-batch")
        lr = c.number_input("Learning rate", 1e-7, 1.0, 3e-5, format="%.1e", help=HELP["lr"], key="form-lr")
        a, b, c = st.columns(3)
        max_seq_length = a.number_input("Max sequence length", 8, 512, 32, help=HELP["max_seq_length"], key="form-len")
        eval_every = b.number_input("Eval every (steps)", 1, 1_000_000, 20, help=HELP["eval_every"],
                                    key="form-eval-every")
        seed = c.number_input("Seed", 0, 2**31 - 1, 42, help=HELP["seed"], key="form-seed")
    with st.expander("More settings"):
        more = config_inputs(ON_FORM)

    cfg = {"loss": loss, "model": None if model == DEFAULT_MODEL else (model or "").strip() or None,
           "pooler": pooler, "train_file": (corpus or "").strip() or None, "dev_file": dev_file.strip() or None,
           "max_steps": int(max_steps), "batch_size": int(batch_size), "lr": float(lr),
           "max_seq_length": int(max_seq_length), "eval_every": int(eval_every), "seed": int(seed), **hparams, **more}
    st.markdown("Equivalent command line (one process):")
    st.code(jobs.cli_command(cfg), language="bash", wrap_lines=True)
    a, b, c = st.columns([1, 1, 2])
    nproc = a.number_input("GPUs per node", 1, 64, 2, key="form-nproc")
    nnodes = b.number_input("Nodes", 1, 1024, 1, key="form-nnodes")
    endpoint = c.text_input("Rendezvous endpoint (multi-node)", "HOST:29500", disabled=nnodes == 1, key="form-endpoint")
    st.markdown(f"With torchrun on {int(nproc) * int(nnodes)} GPU(s) (global batch "
                f"{int(nproc) * int(nnodes) * int(batch_size)}; run it on every node):")
    st.code(jobs.torchrun_shell_command(cfg, int(nproc), int(nnodes), endpoint), language="bash", wrap_lines=True)

    if st.button("Start training", type="primary"):
        try:
            if model_kind != MODEL_KINDS[0] and not cfg["model"]:
                raise DataError("enter a model id or path")
            if corpus_kind in ("Local file", "Hub dataset id") and not cfg["train_file"]:
                raise DataError("enter a corpus path or dataset id")
            if corpus_kind == "Upload .txt" and upload is None:
                raise DataError("choose a .txt file to upload")
            raw = (read_upload(upload), upload.name) if corpus_kind == "Upload .txt" else None
            run_dir = jobs.start_run(cfg, root, raw, job_registry())
        except (DataError, ValueError) as e:
            st.error(str(e))
        else:
            st.query_params["run"] = run_dir.name
            st.session_state["train-started"] = run_dir.name
            st.rerun()


# Drawn only while unfolded (a folded form costs the browser ~0.2 s of widgets and code boxes on every load);
# its values are kept meanwhile, as Streamlit drops the state of widgets a run does not draw.
with st.expander("New run", expanded=not rundir.list_runs(root), key="new-run-open", on_change="rerun") as form:
    if form.open:
        new_run_form()
    else:
        keep_widget_values(("form-", "hp-", "cfg-"))

# ------------------------------------------------------------------ watch a run
st.subheader("Watch a run", anchor="live-charts")
if started:
    st.success(f"Started {started} in its own process; it keeps running if you close this tab.")
    scroll_to("live-charts")
all_runs = {r.name: r for r in rundir.list_runs(root)}
if not all_runs:
    st.info("No runs yet.")
    st.stop()
names = list(all_runs)
wanted = st.query_params.get("run")
live = [n for n, r in all_runs.items() if r.state == rundir.LIVE]
default = wanted if wanted in all_runs else (live[0] if live else names[0])
selected = st.selectbox("Run", names, index=names.index(default),
                        format_func=lambda n: f"{n}  —  {state_badge(all_runs[n].state)}")
st.query_params["run"] = selected
run_dir = all_runs[selected].path
run = RunDir(run_dir)
run_config = run.read_config()
log_toggle()


def render_run(polling: bool = False) -> None:
    status = jobs.status_with_log_error(run_dir)
    state, step, total = status.get("state", "unknown"), int(status.get("step") or 0), status.get("max_steps")
    if polling and state != rundir.LIVE:
        st.rerun()  # the run ended: redraw the page once, without polling
    records = run_records(run_dir)
    bar, stop_col = st.columns([5, 1])
    eta = jobs.eta_seconds(records, step, total) if state == rundir.LIVE else None
    eta_text = f" · about {jobs.format_duration(eta)} left" if eta is not None else ""
    bar.progress(min(1.0, step / total) if total else 0.0,
                 text=f"{state_badge(state)} · step {step}/{total or '?'}{eta_text}")
    if state == rundir.LIVE:
        if run.stop_requested():
            stop_col.caption("Stopping after the current step…")
        elif stop_col.button("Stop run", key=f"stop-{selected}"):
            jobs.stop_async(run_dir)
            stop_col.caption("Stopping after the current step…")
    if state in (rundir.FAILED, rundir.KILLED):  # said once; no "waiting for metrics" below it
        st.error(f"Run {state}: {status.get('error') or 'no error text recorded'}")
    st.caption(runstats.eval_summary(records))
    if runstats.did_not_train(records):
        st.warning(f"This run {runstats.DID_NOT_TRAIN}. With this start every hinge is already met: try the "
                   "cls pooler with the MLP head in training (the default), a larger margin or another loss.")
    show_live_charts(selected, records, run_config, state)


if jobs.status_with_log_error(run_dir).get("state") == rundir.LIVE:
    st.fragment(run_every=POLL_SECONDS)(render_run)(polling=True)
else:
    render_run()

with st.expander("Configuration and log", key="config-and-log", on_change="rerun") as details:
    if details.open:  # drawn only when unfolded, like the form
        launched = rundir.read_json(run.launch_file, {}) or {}
        if launched.get("command"):
            st.code(launched["command"], language="bash", wrap_lines=True)
        st.json(run.read_config(), expanded=False)
        log = run.log_file
        if log.exists():
            st.code(log.read_text(errors="replace")[-4000:] or "(empty)")
