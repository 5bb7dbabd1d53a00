"""Benchmarks, side by side with the peers, on this machine and in one run.

    pip install -r bench/requirements.txt
    python bench/run.py                          # everything, ~10-15 min on 2 cores
    python bench/run.py --sections train,encode --steps 20

Writes ``bench/results.json`` (every sample, versions, machine load) and ``bench/results.md``
(the table of ratios and targets). Every measurement runs in its own child process, so a cold
start is really cold and the peak RSS (``ru_maxrss`` from ``wait4``) belongs to one job.

1. Training step (InfoNCE, tau = 0.05, batch 64, max length 32, the same model and sentences):
   a bare PyTorch loop, our trainer with its full metric stream, and sentence-transformers'
   trainer with MultipleNegativesRankingLoss(scale=20) on (sentence, sentence) pairs.
2. Encoding throughput: ``Encoder.encode`` against ``SentenceTransformer.encode``.
3. Evaluation wall time: STS-B dev (from ``$SRL_DATA_DIR``, by default ``../shared/data/stsbenchmark``
   when that folder exists); all seven tasks when ``--senteval-dir`` is given.
4. Projection: umap-learn at 1k/5k/10k points cold (fresh process) and warm, PCA, and the app's
   UMAP worker (first map when asked at start-up, and after its background warm-up).
5. Peak RSS of training and evaluation.
6. App latency in headless Chromium (``bench/app_latency.py``).

Absolute times on a shared 2-core machine are noisy: read the ratios, and the load average
recorded next to them. Tests never assert on these numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_STSB = ROOT.parent / "shared" / "data" / "stsbenchmark"  # this machine's copy of STS-B
if (SHARED_STSB / "sts-dev.csv").exists():
    os.environ.setdefault("SRL_DATA_DIR", str(SHARED_STSB))  # read through rundir.data_dir(), children inherit it

from srl_explorer import rundir  # noqa: E402
from srl_explorer.fmt import fmt_num  # noqa: E402

SECTIONS = ("train", "encode", "eval", "projection", "app")
TARGETS = {  # what "ahead of the peers" means (issue #6)
    "train_ours_vs_bare": ("<=", 1.05), "train_ours_vs_st": ("<", 1.0), "encode_ours_vs_st": (">=", 1.0),
    "umap_5k_warm_s": ("<", 5.0), "umap_first_after_start_s": ("<", 10.0), "umap_asked_at_start_s": ("<", 10.0),
    "peak_rss_train_gb": ("<", 3.0), "peak_rss_eval_gb": ("<", 3.0), "app_page_max_s": ("<", 3.0),
    "app_page_max_cached_browser_s": ("<", 3.0),
}


# --------------------------------------------------------------------------- data
def train_sentences(quick: bool) -> tuple[str | None, list[str]]:
    """(train_file for TrainConfig, its sentences): STS-B train when present, else the shipped sample."""
    from srl_explorer.data import load_corpus
    f = rundir.stsb_file("train")
    source = str(f) if f and not quick else None
    return source, load_corpus(source)


def eval_sentences(quick: bool) -> list[str]:
    """Unique STS-B dev sentences when present, else the shipped sample pairs'."""
    from srl_explorer.data import read_pairs
    f = rundir.stsb_dev_file()
    return read_pairs(str(f) if f and not quick else None).sentences()


def step_batches(sentences: list[str], n_steps: int, batch_size: int, seed: int = 42) -> list[list[str]]:
    """The sentences of our trainer's first ``n_steps`` batches, so every trainer sees the same data."""
    from srl_explorer.training import batch_indices
    return [[sentences[i] for i in batch_indices(s, len(sentences), batch_size, seed).tolist()] for s in range(n_steps)]


# --------------------------------------------------------------------------- children: training step
def child_train_bare(a: dict) -> dict:
    """Forward, InfoNCE, backward, AdamW step: the least any trainer must do (timed per whole step)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel, AutoTokenizer

    from srl_explorer.encoder import resolve_model
    path = resolve_model(a["model"])
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5)
    _, sentences = train_sentences(a["quick"])
    times = []
    for batch in step_batches(sentences, a["warmup"] + a["steps"], a["batch_size"]):
        t = time.perf_counter()
        enc = tok(batch + batch, padding=True, truncation=True, max_length=a["max_len"], return_tensors="pt")
        h = model(**enc).last_hidden_state  # (2B, L, d)
        mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        z = F.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)  # (2B, d) mean pooling
        z1, z2 = z.chunk(2)
        loss = F.cross_entropy(z1 @ z2.T / a["temp"], torch.arange(len(batch)))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return {"step_s": times[a["warmup"]:]}


def child_train_ours(a: dict) -> dict:
    """``srl_explorer.training.train`` as the CLI runs it (metrics every step, status, checkpoints)."""
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    train_file, _ = train_sentences(a["quick"])
    n = a["warmup"] + a["steps"] + 1  # the last step evaluates and saves: not timed
    with tempfile.TemporaryDirectory() as tmp:
        run = train(TrainConfig(model=a["model"], loss="infonce", temp=a["temp"], batch_size=a["batch_size"],
                                max_seq_length=a["max_len"], max_steps=n, train_file=train_file,
                                eval_every=10 ** 9, output_dir=str(Path(tmp) / "run")))
        records, _ = rundir.RunDir(run).read_metrics()
    elapsed = {r["step"]: r["elapsed_s"] for r in records}
    # step k's time is elapsed[k] - elapsed[k-1]; step 1 also holds the step-0 evaluation
    return {"step_s": [elapsed[k] - elapsed[k - 1] for k in range(a["warmup"] + 1, n)]}


def child_train_st(a: dict) -> dict:
    """sentence-transformers' SimCSE recipe: MultipleNegativesRankingLoss on (s, s) pairs."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from transformers import TrainerCallback

    from srl_explorer.encoder import resolve_model
    n = a["warmup"] + a["steps"]
    _, sentences = train_sentences(a["quick"])
    batches = step_batches(sentences, n, a["batch_size"])
    flat = [s for b in batches for s in b]  # the same sentences; its sampler shuffles them
    model = SentenceTransformer(resolve_model(a["model"]), device="cpu")
    model.max_seq_length = a["max_len"]
    ends: list[float] = []

    class StepEnd(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, per_device_train_batch_size=a["batch_size"], max_steps=n, learning_rate=3e-5,
            warmup_steps=0, logging_steps=10 ** 9, save_strategy="no", report_to="none", seed=42,
            dataloader_drop_last=True, use_cpu=True, disable_tqdm=True)
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=Dataset.from_dict({"anchor": flat, "positive": flat}),
            loss=losses.MultipleNegativesRankingLoss(model, scale=1 / a["temp"]), callbacks=[StepEnd()])
        trainer.train()
    # step end to step end: data loading, forward, loss, backward, optimizer, callbacks
    return {"step_s": [e - s for s, e in zip(ends[a["warmup"] - 1:-1], ends[a["warmup"]:], strict=True)]}


# --------------------------------------------------------------------------- children: encoding, evaluation
def child_encode(a: dict) -> dict:
    """Sentences/s of both encoders on the same unique sentences, rounds interleaved."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from srl_explorer.encoder import Encoder, resolve_model
    sentences = eval_sentences(a["quick"])
    ours = Encoder.from_pretrained(a["model"], pooler="avg")
    st = SentenceTransformer(resolve_model(a["model"]), device="cpu")
    st.max_seq_length = a["max_len"]
    rates: dict[str, list[float]] = {"ours": [], "st": []}
    for _ in range(a["rounds"]):
        t = time.perf_counter()
        e_ours = ours.encode(sentences, batch_size=a["batch_size"], max_length=a["max_len"])
        rates["ours"].append(len(sentences) / (time.perf_counter() - t))
        t = time.perf_counter()
        e_st = st.encode(sentences, batch_size=a["batch_size"], normalize_embeddings=True, convert_to_numpy=True)
        rates["st"].append(len(sentences) / (time.perf_counter() - t))
    return {"n_sentences": len(sentences), "sent_per_s": rates,
            "max_abs_diff": float(np.abs(e_ours - e_st).max())}  # same model: the embeddings must agree


def child_eval(a: dict) -> dict:
    """``evaluate_model`` as ``python -m srl_explorer eval`` runs it (load, encode, score)."""
    from srl_explorer.evaluation import evaluate_model
    t = time.perf_counter()
    stsb_dev = rundir.stsb_dev_file()
    if a.get("senteval_dir"):
        res = evaluate_model(a["model"], tasks=None, split="test", data_dir=a["senteval_dir"])
    elif a["quick"] or stsb_dev is None:
        from srl_explorer.data import sample_pairs_path
        res = evaluate_model(a["model"], user_file=str(sample_pairs_path()))
    else:
        res = evaluate_model(a["model"], tasks="stsb", split="dev", data_dir=str(stsb_dev.parent))
    return {"evaluate_s": time.perf_counter() - t, "avg": res["avg"], "n_sentences": res["n_sentences"],
            "tasks": sorted(res["tasks"])}


# --------------------------------------------------------------------------- children: projection
def child_embed(a: dict) -> dict:
    """Embeddings for the projection benchmark: up to max(sizes) unique STS-B sentences."""
    import numpy as np

    from srl_explorer.data import load_corpus
    from srl_explorer.encoder import Encoder
    sentences = []
    for split in ("train", "dev"):
        if (f := rundir.stsb_file(split)) is not None and not a["quick"]:
            sentences += load_corpus(str(f))
    sentences = list(dict.fromkeys(sentences or load_corpus(None)))[:max(a["sizes"])]
    x = Encoder.from_pretrained(a["model"]).encode(sentences, batch_size=128)
    if len(x) < max(a["sizes"]):  # too few real sentences: jitter copies (documented in the results)
        rng = np.random.default_rng(0)
        reps = x[rng.integers(0, len(x), max(a["sizes"]) - len(x))]
        x = np.concatenate([x, reps + 0.05 * rng.normal(size=reps.shape).astype(np.float32)])
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(a["out"], x.astype(np.float32))
    return {"n_real": len(sentences), "n": len(x)}


def child_umap(a: dict) -> dict:
    """umap-learn as a new user runs it: the first fit in a fresh process (numba compiles), then warm fits."""
    import numpy as np
    from sklearn.decomposition import PCA

    from srl_explorer.projection import _umap_fit
    x = np.load(a["embeddings"])[:a["n"]]
    t = time.perf_counter()
    _umap_fit(x, 0, 15)
    cold = time.perf_counter() - t
    warm = []
    for seed in (1, 2):
        t = time.perf_counter()
        _umap_fit(x, seed, 15)
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    PCA(n_components=2, random_state=0).fit_transform(x)
    return {"n": len(x), "cold_s": cold, "warm_s": warm, "pca_s": time.perf_counter() - t}


def child_umap_app(a: dict) -> dict:
    """The app's UMAP worker: ``warm_up_umap()`` runs when the app starts. (1) A map asked for at that
    moment (the worst case); (2) the background warm-up's length; (3) a new map once warm. 3,000
    sentences: the Embeddings page's largest set (1,500 pairs)."""
    import numpy as np

    from srl_explorer import projection
    x = np.load(a["embeddings"])
    n = min(len(x), 3000)
    t = time.perf_counter()
    warm = projection.warm_up_umap()
    projection.project(x[:n], "UMAP", seed=0)
    first = time.perf_counter() - t
    warm_s = warm.result()
    t = time.perf_counter()
    projection.project(x[:n], "UMAP", seed=1)
    again = time.perf_counter() - t
    projection.shutdown_worker()
    return {"n": n, "first_at_start_s": first, "warm_up_s": warm_s, "warm_s": again}


CHILDREN = {"train-bare": child_train_bare, "train-ours": child_train_ours, "train-st": child_train_st,
            "encode": child_encode, "eval": child_eval, "embed": child_embed, "umap": child_umap,
            "umap-app": child_umap_app}


# --------------------------------------------------------------------------- parent
def run_child(kind: str, args: dict, work: Path) -> dict:
    """Run one measurement in a fresh interpreter; adds its wall time and peak RSS (GB)."""
    out = work / f"{kind}-{time.time_ns()}.json"
    log = work / f"{kind}.log"
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--child", kind, "--child-args", json.dumps(args),
           "--child-out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    with open(log, "a") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"{kind} exited with {proc.returncode}: {tail[0][:300]} (log: {log})", "wall_s": wall}
    res = json.loads(out.read_text())
    res.update(wall_s=wall, peak_rss_gb=usage.ru_maxrss / 2 ** 20)  # ru_maxrss is in KiB on Linux
    print(f"  {kind}: {wall:.1f} s, peak RSS {res['peak_rss_gb']:.2f} GB", flush=True)
    return res


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def bench_train(o: argparse.Namespace, work: Path) -> dict:
    """Rounds alternate the order, so a slow spell of the shared machine does not hit one trainer only."""
    a = {"model": o.model, "quick": o.quick, "warmup": o.warmup, "steps": o.steps, "batch_size": o.batch_size,
         "max_len": 32, "temp": 0.05}
    kinds = ["train-bare", "train-ours"] + (["train-st"] if _has_st() else [])
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    out: dict = {"config": a, "runs": {k: [] for k in kinds}}
    for r in range(o.rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            res = run_child(kind, a, work)
            out["runs"][kind].append(res)
            samples[kind] += res.get("step_s", [])
    med = {k: _median(v) for k, v in samples.items()}
    out["median_step_s"] = med
    if med["train-bare"] and med["train-ours"]:
        out["ours_vs_bare"] = med["train-ours"] / med["train-bare"]
    if med.get("train-st") and med["train-bare"]:
        out["st_vs_bare"] = med["train-st"] / med["train-bare"]
        out["ours_vs_st"] = med["train-ours"] / med["train-st"]
    if not _has_st():
        out["skipped"] = "sentence-transformers is not installed: pip install -r bench/requirements.txt"
    ours = [r for r in out["runs"]["train-ours"] if "peak_rss_gb" in r]
    out["peak_rss_train_gb"] = max((r["peak_rss_gb"] for r in ours), default=None)
    return out


def bench_encode(o: argparse.Namespace, work: Path) -> dict:
    if not _has_st():
        return {"skipped": "sentence-transformers is not installed: pip install -r bench/requirements.txt"}
    res = run_child("encode", {"model": o.model, "quick": o.quick, "batch_size": 128, "max_len": 128,
                               "rounds": o.rounds + 1}, work)
    if "error" not in res:
        res["median_sent_per_s"] = {k: _median(v) for k, v in res["sent_per_s"].items()}
        res["ours_vs_st"] = res["median_sent_per_s"]["ours"] / res["median_sent_per_s"]["st"]
    return res


def bench_eval(o: argparse.Namespace, work: Path) -> dict:
    out = {"stsb_dev": run_child("eval", {"model": o.model, "quick": o.quick}, work)}
    if o.senteval_dir:
        out["all_tasks"] = run_child("eval", {"model": o.model, "quick": False,
                                              "senteval_dir": str(Path(o.senteval_dir).resolve())}, work)
    else:
        out["all_tasks"] = {"skipped": "no SentEval folder given (--senteval-dir); none can be downloaded here"}
    out["peak_rss_eval_gb"] = max((v["peak_rss_gb"] for v in out.values() if "peak_rss_gb" in v), default=None)
    return out


def bench_projection(o: argparse.Namespace, work: Path) -> dict:
    emb = work / "embeddings.npy"
    out = {"embeddings": run_child("embed", {"model": o.model, "quick": o.quick, "sizes": o.sizes,
                                             "out": str(emb)}, work)}
    if "error" in out["embeddings"]:
        return out
    out["umap"] = {str(n): run_child("umap", {"embeddings": str(emb), "n": n}, work) for n in o.sizes}
    out["app_worker"] = run_child("umap-app", {"embeddings": str(emb)}, work)
    return out


def bench_app(o: argparse.Namespace, work: Path) -> dict:
    out = work / "app_latency.json"
    cmd = [sys.executable, str(ROOT / "bench" / "app_latency.py"), "--repeats", str(o.rounds + 1), "--json", str(out)]
    t = time.perf_counter()
    with open(work / "app.log", "a") as f:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0 or not out.exists():
        return {"error": f"bench/app_latency.py exited with {rc} (log: {work / 'app.log'})"}
    res = json.loads(out.read_text())
    res["wall_s"] = time.perf_counter() - t
    return res


def _has_st() -> bool:
    import importlib.util
    return importlib.util.find_spec("sentence_transformers") is not None


# --------------------------------------------------------------------------- report
def headline(results: dict) -> dict[str, float | None]:
    """The numbers the targets are about."""
    s = results["sections"]
    get = lambda *keys: _dig(s, keys)  # noqa: E731
    pages = get("app", "pages") or {}
    page_times = [v[k] for v in pages.values() for k in ("first_s", "median_rest_s") if v.get(k) is not None]
    cached = [v[k] for v in pages.values() for k in ("after_restart_s", "median_rest_s") if v.get(k) is not None]
    return {
        "train_ours_vs_bare": get("train", "ours_vs_bare"), "train_st_vs_bare": get("train", "st_vs_bare"),
        "train_ours_vs_st": get("train", "ours_vs_st"), "encode_ours_vs_st": get("encode", "ours_vs_st"),
        "umap_5k_warm_s": _median(get("projection", "umap", "5000", "warm_s") or []),
        "umap_first_after_start_s": get("app", "umap_switch_s"),
        "umap_asked_at_start_s": get("projection", "app_worker", "first_at_start_s"),
        "peak_rss_train_gb": get("train", "peak_rss_train_gb"), "peak_rss_eval_gb": get("eval", "peak_rss_eval_gb"),
        "app_page_max_s": max(page_times) if page_times else None,
        "app_page_max_cached_browser_s": max(cached) if cached else None,
    }


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def markdown(results: dict) -> str:
    s, h = results["sections"], results["headline"]
    env = results["environment"]
    lines = ["# SRL Explorer benchmarks", "",
             f"`{results['command']}` on {env['date']}, {env['cpus']} CPUs, torch {env['torch']}, "
             f"sentence-transformers {env['sentence_transformers']}, commit {env['commit']}. "
             f"Load average before/after: {env['load_before'][0]:.2f} / {env['load_after'][0]:.2f}. "
             f"Total {results['wall_s'] / 60:.1f} min.", "", "## Targets", "",
             "| measure | value | target | met |", "|---|---:|---:|:---:|"]
    for key, (op, bound) in TARGETS.items():
        v = h.get(key)
        met = "–" if v is None else ("yes" if {"<": v < bound, "<=": v <= bound, ">=": v >= bound}[op] else "**no**")
        lines.append(f"| {key} | {fmt_num(v, '.3f')} | {op} {bound} | {met} |")
    t = s.get("train")
    if t:
        lines += ["", f"## 1. Training step (batch {t['config']['batch_size']}, max length 32, InfoNCE tau 0.05, "
                      f"{t['config']['steps']} timed steps x {len(next(iter(t['runs'].values())))} runs each)", "",
                  "| trainer | median step (s) | vs bare loop |", "|---|---:|---:|"]
        for kind, label in (("train-bare", "bare PyTorch loop"),
                            ("train-ours", "SRL Explorer trainer (full metric stream)"),
                            ("train-st", "sentence-transformers trainer (MNRL, scale 20)")):
            m = t["median_step_s"].get(kind)
            bare = t["median_step_s"].get("train-bare")
            lines.append(f"| {label} | {fmt_num(m, '.3f')} | {fmt_num(m / bare if m and bare else None, '.3f')}x |")
        if t.get("skipped"):
            lines.append(f"\nsentence-transformers: {t['skipped']}")
    e = s.get("encode")
    if e and "median_sent_per_s" in e:
        m = e["median_sent_per_s"]
        lines += ["", f"## 2. Encoding ({e['n_sentences']:,} unique sentences, batch 128, max length 128)", "",
                  "| encoder | sentences/s (median) |", "|---|---:|",
                  f"| SRL Explorer `Encoder.encode` | {m['ours']:.0f} |",
                  f"| sentence-transformers `encode` | {m['st']:.0f} |",
                  "", f"Ratio {e['ours_vs_st']:.2f}x; largest embedding difference {e['max_abs_diff']:.1e}."]
    elif e:
        lines += ["", "## 2. Encoding", "", e.get("skipped") or e.get("error", "")]
    ev = s.get("eval")
    if ev:
        lines += ["", "## 3. Evaluation (wall time of the process: start-up, model load, encoding, scoring)", "",
                  "| evaluation | wall (s) | in evaluate_model (s) | sentences | peak RSS (GB) |",
                  "|---|---:|---:|---:|---:|"]
        for key, label in (("stsb_dev", "STS-B dev"), ("all_tasks", "7 tasks (SentEval folder)")):
            r = ev[key]
            if "wall_s" in r and "error" not in r:
                lines.append(f"| {label} | {r['wall_s']:.1f} | {r['evaluate_s']:.1f} | "
                             f"{r['n_sentences']:,} | {fmt_num(r.get('peak_rss_gb'))} |")
            else:
                lines.append(f"| {label} | – | – | – | {r.get('skipped') or r.get('error')} |")
    p = s.get("projection")
    if p and "umap" in p:
        lines += ["", "## 4. Projection (MiniLM embeddings of STS-B sentences, cosine UMAP, single thread)", "",
                  "| points | UMAP cold, fresh process (s) | UMAP warm (s) | PCA (s) |", "|---:|---:|---:|---:|"]
        for n, r in p["umap"].items():
            warm = fmt_num(_median(r.get("warm_s") or []), ".2f")
            lines.append(f"| {int(n):,} | {fmt_num(r.get('cold_s'), '.1f')} | {warm} | "
                         f"{fmt_num(r.get('pca_s'), '.3f')} |")
        w = p.get("app_worker", {})
        if "first_at_start_s" in w:
            lines += ["", f"App worker ({w['n']:,} points): background warm-up {w['warm_up_s']:.1f} s; a map asked for "
                          f"at the moment the app starts {w['first_at_start_s']:.1f} s; a new map once warm "
                          f"{w['warm_s']:.2f} s."]
    mem = [("training", h.get("peak_rss_train_gb")), ("evaluation", h.get("peak_rss_eval_gb"))]
    lines += ["", "## 5. Memory", "", " ".join(f"Peak RSS during {k}: {fmt_num(v)} GB." for k, v in mem)]
    a = s.get("app")
    if a and "pages" in a:
        lines += ["", "## 6. App latency (headless Chromium)", "",
                  "| page | first load, fresh browser (s) | reload, median (s) | sidebar click, median (s) | "
                  "first load after a server restart (s) |", "|---|---:|---:|---:|---:|"]
        for page, r in a["pages"].items():
            lines.append(f"| {page} | {fmt_num(r['first_s'])} | {fmt_num(r['median_rest_s'])} | "
                         f"{fmt_num(r['sidebar_click_median_s'])} | "
                         f"{fmt_num(r.get('after_restart_s'))} |")
        delay = a["metric_delay_s"]
        lines += ["", f"Metric written to disk until visible in the chart: median {delay['median']:.2f} s, "
                      f"max {a['metric_delay_s']['max']:.2f} s. First UMAP map after start-up (switching the "
                      f"Embeddings page to UMAP): {a['umap_switch_s']:.2f} s; UMAP of new sentences: "
                      f"{a['umap_new_sentences_s']:.2f} s."]
    elif a:
        lines += ["", "## 6. App latency", "", a.get("error", "")]
    return "\n".join(lines) + "\n"


def environment() -> dict:
    import importlib.metadata as md
    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": version("torch"), "transformers": version("transformers"),
            "sentence_transformers": version("sentence-transformers"), "umap_learn": version("umap-learn"),
            "commit": commit or None, "load_before": os.getloadavg()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    p.add_argument("--model", default="default", help="model for every section (default: the packaged MiniLM)")
    p.add_argument("--steps", type=int, default=12, help="timed training steps per run (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed first training steps (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (default %(default)s)")
    p.add_argument("--rounds", type=int, default=2,
                   help="runs of each trainer, order alternating (default %(default)s)")
    p.add_argument("--sizes", default="1000,5000,10000", help="UMAP sizes (default %(default)s)")
    p.add_argument("--senteval-dir", default=None, help="SentEval data folder: also time the 7-task evaluation")
    p.add_argument("--quick", action="store_true", help="shipped sample data only (smoke test; numbers mean little)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"), help="JSON results; the .md goes beside it")
    p.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--child-args", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    o = p.parse_args(argv)
    o.sections = [x.strip() for x in o.sections.split(",") if x.strip()]
    unknown = sorted(set(o.sections) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    o.sizes = [int(x) for x in o.sizes.split(",")]
    if o.steps < 2 or o.warmup < 1 or o.rounds < 1:
        p.error("--steps must be at least 2, --warmup and --rounds at least 1")
    return o


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    if o.child:  # inside a child process
        res = CHILDREN[o.child](json.loads(o.child_args))
        Path(o.child_out).write_text(json.dumps(res))
        return 0
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python bench/run.py", *given])
    results = {"command": command, "environment": environment(), "sections": {}}
    runners = {"train": bench_train, "encode": bench_encode, "eval": bench_eval, "projection": bench_projection,
               "app": bench_app}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="srl-bench-") as tmp:
        for name in o.sections:
            print(f"[{name}]", flush=True)
            results["sections"][name] = runners[name](o, Path(tmp))
    results["wall_s"] = time.perf_counter() - t0
    results["environment"]["load_after"] = os.getloadavg()
    results["headline"] = headline(results)
    out = Path(o.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(markdown(results) + _kept_app_latency(out.with_suffix(".md")))
    print(markdown(results))
    errors = [f"{k}: {v['error']}" for k, v in _walk_errors(results["sections"])]
    for e in errors:
        print("error:", e, file=sys.stderr)
    return 1 if errors else 0


def _kept_app_latency(md: Path) -> str:
    """The cold-start section that ``bench/app_latency.py --md`` wrote into results.md (between its markers),
    kept when this run rewrites the file."""
    begin, end = "<!-- app-latency:begin -->", "<!-- app-latency:end -->"
    text = md.read_text() if md.exists() else ""
    if begin not in text or end not in text:
        return ""
    return "\n" + begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


def _walk_errors(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            if "error" in v:
                yield f"{prefix}{k}", v
            else:
                yield from _walk_errors(v, f"{prefix}{k}/")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                if isinstance(x, dict) and "error" in x:
                    yield f"{prefix}{k}[{i}]", x


if __name__ == "__main__":
    sys.exit(main())
