"""Benchmark, not a test: how fast the app renders in headless Chromium.

1. Time to a rendered page: from navigation until the script run is over and the page's charts
   (or table) are drawn, for every page; the first visit (cold caches, a fresh browser profile),
   the median of the rest, and the first visit after a server restart (browser cache warm).
2. Metric delay: a line appended to a live run's metrics.jsonl until its point is in the Train
   page's chart (read from plotly's data in the browser).
3. The first UMAP map after start-up (the worker compiled numba in the background meanwhile).
4. Cold starts (``--cold-starts N``): every page as the first page a fresh browser asks of a freshly started
   server, N times; the table gives the median (issue 15: under 3 s).
5. While a run trains (``--under-training N``): a command-line run (InfoNCE, batch 32, the packaged model,
   at train's own ``--nice`` default, or ``--trainer-nice`` if higher) trains into the runs folder; on each of
   N freshly started servers session A opens the live run on Train and keeps watching it, then session B (a fresh
   browser context per page) loads every page once. With ``--py-spy DIR`` the server is sampled meanwhile
   (py-spy's collapsed stacks, one file per start) and its CPU and run-queue wait are read from
   /proc/PID/task/*/schedstat: where the time of a slow page goes.
   Both also load a *floor* page, served by its own freshly started server under the same conditions: a title and
   two 3-point plotly charts, the least any page with a chart costs this machine (FLOOR_APP).

    python bench/app_latency.py [--repeats 3]
    python bench/app_latency.py --cold-starts 5 --under-training 5 --repeats 0 --md bench/results.md
    python bench/app_latency.py --screenshots docs/screenshots --checkpoints checkpoints --train-run NAME

The second form only takes README screenshots of an existing checkpoints folder (read-only).
Results: printed, and written to bench/_work/app_latency.json (or --json FILE).
Part of ``python bench/run.py``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import psutil  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench._browser import free_port, launch_chromium, start_app  # noqa: E402
from bench._tiny_bert import make_tiny_bert  # noqa: E402
from srl_explorer import rundir  # noqa: E402
from srl_explorer.config import TrainConfig  # noqa: E402
from srl_explorer.rundir import RunDir, atomic_write_json  # noqa: E402
from srl_explorer.training import train  # noqa: E402

# page path -> (title, charts expected once rendered)
PAGES = {"": ("SRL Explorer", 0), "Train": ("Train", 1), "Compare": ("Compare runs", 2),
         "Embeddings": ("Embeddings", 2), "STS": ("STS benchmarks", 0), "Similarity": ("Similarity", 0),
         "Paper": ("", 0)}
RENDERED = """([title, charts]) => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector("[data-testid='stSkeleton']")) return false;
    const h1 = document.querySelector('h1');
    if (!h1 || !h1.innerText.includes(title)) return false;
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
    return plots.length >= charts && plots.every(p => p._fullLayout);
}"""
STARTED = """() => document.querySelector("[data-testid='stApp']")
    .getAttribute('data-test-script-state') === 'running'"""
TALL = {"Compare": 1900, "Similarity": 1800}  # README screenshots: the page scrolls inside the app, so enlarge
HAS_STEP = """(step) => {
    const plot = document.querySelector('.js-plotly-plot');
    const t = plot && plot._fullData && plot._fullData.find(t => t.name === 'loss');
    return !!t && Array.from(t.x).includes(step);
}"""


FLOOR = "floor"  # a pseudo-page: the least a plotly page costs (a title, two 3-point charts, its own server)
FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.set_page_config(layout="wide")
st.title("Floor")
for k in range(2):
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])), key=f"chart-{k}")
"""


def floor_time(ctx, folder: Path, flags: tuple[str, ...] = ()) -> float:
    """First load of the floor page (FLOOR_APP, in ``folder``, with the app's config flags) from a freshly
    started server of its own, in browser context ``ctx``."""
    from srl_explorer.app_cli import config_flags
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(FLOOR_APP)
    port = free_port()
    server = start_app(folder, port, flags=(*config_flags(ROOT / ".streamlit" / "config.toml"), *flags),
                       app_dir=folder)
    try:
        return render_time(ctx.new_page(), f"http://127.0.0.1:{port}", "", expect=("Floor", 2))
    finally:
        stop_server(server)


def make_runs(root: Path) -> subprocess.Popen:
    """A finished tiny run (real training) and a 'live' one held open by a sleeping process."""
    tiny = make_tiny_bert(root.parent / "tiny-bert")
    train(TrainConfig(model=str(tiny), loss="mpt", max_steps=30, batch_size=8, eval_every=5,
                      output_dir=str(root / "done-mpt")))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    live = RunDir(root / "live-infonce")
    live.path.mkdir()
    atomic_write_json(live.config_file, {"loss": "infonce", "model": str(tiny), "pooler": "avg"})
    atomic_write_json(live.status_file, {"state": "running", "pid": sleeper.pid, "step": 1,
                                         "max_steps": 10_000, "started": time.time()})
    live.metrics_file.write_text(json.dumps({"step": 0, "elapsed_s": 0.0, "stsb_dev_spearman": 20.0,
                                                    "dev_align": 0.4, "dev_uniform": -2.0}) + "\n"
                                        + json.dumps({"step": 1, "elapsed_s": 1.0, "loss": 2.0, "pos_prob": 0.3,
                                                      "grad_norm": 1.0, "align": 0.3, "uniform": -2.0}) + "\n")
    return sleeper


def render_time(pg, url: str, path: str, query: str = "", expect: tuple[str, int] | None = None) -> float:
    """Seconds from navigating to ``path`` until it has rendered (``expect``: its title and chart count,
    by default from PAGES)."""
    title, charts = expect or PAGES[path]
    t0 = time.perf_counter()
    pg.goto(f"{url}/{path}{query}", timeout=300_000)
    pg.wait_for_function(RENDERED, arg=[title, charts], timeout=300_000, polling=50)
    return time.perf_counter() - t0


def soft_nav_time(pg, path: str) -> float:
    """Seconds from clicking the page's sidebar link (no page reload) until it has rendered."""
    title, charts = PAGES[path]
    link = pg.locator("[data-testid='stSidebar'] a", has_text=path or "Home").first
    return rerun_time(pg, link.click, title, charts)


def metric_delay(pg, url: str, live: Path, n: int = 8) -> list[float]:
    """Seconds from appending a metric line to seeing its point in the Train chart."""
    pg.goto(f"{url}/Train?run={live.name}")
    pg.wait_for_function(RENDERED, arg=["Train", 1], timeout=120_000, polling=50)
    delays = []
    for i in range(n):
        step = 2 + i
        time.sleep(0.37 * (i % 3))  # sample different phases of the 1 s poll
        line = json.dumps({"step": step, "elapsed_s": float(step), "loss": 2.0 / step, "pos_prob": 0.3,
                           "grad_norm": 1.0, "align": 0.3, "uniform": -2.0}) + "\n"
        t0 = time.perf_counter()
        with open(RunDir(live).metrics_file, "a") as f:
            f.write(line)
        pg.wait_for_function(HAS_STEP, arg=step, timeout=30_000, polling=20)
        delays.append(time.perf_counter() - t0)
    return delays


def rerun_time(pg, action, title: str, charts: int) -> float:
    """Seconds from a widget action until the rerun it causes has rendered."""
    t0 = time.perf_counter()
    action()
    with contextlib.suppress(PlaywrightTimeout):  # the rerun was over before we looked
        pg.wait_for_function(STARTED, timeout=3_000, polling=10)
    pg.wait_for_function(RENDERED, arg=[title, charts], timeout=300_000, polling=50)
    return time.perf_counter() - t0


def umap_maps(pg, url: str) -> tuple[float, float]:
    """Embeddings page: switching to UMAP (the first UMAP of this server unless a page chose it
    already), then UMAP of a sentence set not seen before (new embeddings, new projections)."""
    pg.goto(f"{url}/Embeddings")
    pg.wait_for_function(RENDERED, arg=["Embeddings", 2], timeout=300_000, polling=50)
    first = rerun_time(pg, lambda: pg.get_by_text("UMAP", exact=True).click(), "Embeddings", 2)
    slider = pg.get_by_role("slider")
    slider.focus()
    fresh = rerun_time(pg, lambda: slider.press("ArrowRight"), "Embeddings", 2)  # 420 pairs
    return first, fresh


def benchmark(root: Path, repeats: int) -> dict:
    """Sections 1-3 of the module docstring, on one server (and a restart)."""
    port = free_port()
    t_start = time.perf_counter()
    server = start_app(root, port)
    startup = time.perf_counter() - t_start
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            times = {path or "Home": [] for path in PAGES}
            clicks = {path or "Home": [] for path in PAGES}
            for _ in range(repeats):
                for path in PAGES:
                    times[path or "Home"].append(render_time(pg, url, path))
            for _ in range(repeats):
                for path in PAGES:
                    clicks[path or "Home"].append(soft_nav_time(pg, path))
            delays = metric_delay(pg, url, root / "live-infonce")
            umap_s = umap_maps(pg, url)
            # A restarted server (cold caches, imports, UMAP warm-up) seen by a browser that has
            # the app's static files cached, as on a user's second day.
            server.terminate()
            server.wait(30)
            server = start_app(root, port)
            restart = {path or "Home": render_time(pg, url, path) for path in PAGES}
            browser.close()
    finally:
        stop_server(server)
    return {"server_start_s": startup,
            "pages": {k: {"first_s": v[0], "median_rest_s": statistics.median(v[1:]) if len(v) > 1 else None,
                          "sidebar_click_median_s": statistics.median(clicks[k]), "after_restart_s": restart[k]}
                      for k, v in times.items()},
            "load_average": os.getloadavg(), "cpus": os.cpu_count(),
            "metric_delay_s": {"median": statistics.median(delays), "max": max(delays), "all": delays},
            "umap_switch_s": umap_s[0], "umap_new_sentences_s": umap_s[1]}


# --------------------------------------------------------------------------- cold starts, and a run training
def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def cold_starts(root: Path, n: int, flags: tuple[str, ...] = ()) -> dict:
    """Every page as the very first page a fresh browser context asks of a freshly started server, n times."""
    first = {path or "Home": [] for path in PAGES}
    first[FLOOR] = []
    starts = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        for _ in range(n):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            try:
                first[FLOOR].append(floor_time(ctx, root.parent / "floor", flags))
            finally:
                ctx.close()
            for path in PAGES:
                port = free_port()
                t0 = time.perf_counter()
                server = start_app(root, port, flags=flags)
                starts.append(time.perf_counter() - t0)
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                try:
                    first[path or "Home"].append(render_time(ctx.new_page(), f"http://127.0.0.1:{port}", path))
                finally:
                    ctx.close()
                    stop_server(server)
        browser.close()
    return {"n": n, "server_start_s": statistics.median(starts),
            "pages": {k: {"median_s": statistics.median(v), "all_s": v} for k, v in first.items()}}


TRAIN_RUN = "cli-infonce"


def start_trainer(root: Path, nice: int = 0, threads: int | None = None, idle: bool = True) -> subprocess.Popen:
    """A command-line run as a user starts it from a shell (InfoNCE, batch 32, the packaged model) into the
    runs folder; returns once its first loss line is on disk."""
    run = root / TRAIN_RUN
    shutil.rmtree(run, ignore_errors=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "srl_explorer", "train", "--loss", "infonce", "--batch-size", "32",
           "--max-steps", "100000", "--eval-every", "100", "--output-dir", str(run)]
    cmd += [] if idle else ["--no-idle"]
    prefix = ["nice", "-n", str(nice)] if nice else []
    proc = subprocess.Popen(prefix + cmd, cwd=root.parent, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if '"loss"' in RunDir(run).metrics_file.read_text():
                return proc
        time.sleep(1)
    stop_trainer(proc)
    raise RuntimeError(f"the training run logged no loss in time (exit code {proc.poll()})")


def stop_trainer(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, ended threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_waits(pid: int) -> dict[str, float]:
    """Per thread of ``pid``: seconds spent runnable but waiting for a CPU (/proc/PID/task/TID/schedstat)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            out[task.name] = int((task / "schedstat").read_text().split()[1]) / 1e9
    return out


def waited(before: dict[str, float], after: dict[str, float]) -> float:
    """Run-queue wait between two :func:`runqueue_waits` readings (threads that started and ended between
    them are missed)."""
    return sum(w - before.get(tid, 0.0) for tid, w in after.items())


def steps_of(root: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(rundir.read_status(root / TRAIN_RUN).get("step") or 0)
    return 0


def under_training(root: Path, n: int, nice: int = 0, threads: int | None = None,
                   py_spy: Path | None = None, flags: tuple[str, ...] = (), idle: bool = True) -> dict:
    """Session B's first load of every page while a run trains and session A watches it on Train, on n
    freshly started servers."""
    trainer = start_trainer(root, nice, threads, idle)
    nice = psutil.Process(trainer.pid).nice()  # as it runs: `train` lowers its own priority (--nice, default 10)
    sched_idle = os.sched_getscheduler(trainer.pid) == os.SCHED_IDLE  # `train`'s default (--no-idle: not)
    b_pages = {path or "Home": [] for path in PAGES}
    b_pages[FLOOR] = []
    a_train, server_cpu, server_wait, steps_per_s = [], [], [], []
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for i in range(n):
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                server = start_app(root, port, flags=flags)
                spy = None
                if py_spy is not None:
                    py_spy.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.pid), "--format", "raw",
                                            "--rate", "50", "--threads", "--nonblocking",
                                            "-o", str(py_spy / f"server-{i}.txt")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    a = browser.new_context(viewport={"width": 1400, "height": 1000})
                    a_train.append(render_time(a.new_page(), url, "Train", f"?run={TRAIN_RUN}"))
                    cpu0, wait0 = cpu_seconds(server.pid), runqueue_waits(server.pid)
                    step0, t0 = steps_of(root), time.perf_counter()
                    for path in PAGES:
                        b = browser.new_context(viewport={"width": 1400, "height": 1000})
                        try:
                            b_pages[path or "Home"].append(render_time(b.new_page(), url, path))
                        finally:
                            b.close()
                    b = browser.new_context(viewport={"width": 1400, "height": 1000})
                    try:
                        b_pages[FLOOR].append(floor_time(b, root.parent / "floor", flags))
                    finally:
                        b.close()
                    dt = time.perf_counter() - t0
                    server_cpu.append((cpu_seconds(server.pid) - cpu0) / dt)
                    server_wait.append(waited(wait0, runqueue_waits(server.pid)) / dt)
                    steps_per_s.append((steps_of(root) - step0) / dt)
                    a.close()
                finally:
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            spy.wait(30)
                    stop_server(server)
            browser.close()
    finally:
        stop_trainer(trainer)
    return {"n": n, "trainer": {"nice": nice, "sched_idle": sched_idle, "torch_threads": threads,
                                "steps_per_s_median": statistics.median(steps_per_s)},
            "session_a_train": {"median_s": statistics.median(a_train), "all_s": a_train},
            "pages": {k: {"median_s": statistics.median(v), "all_s": v} for k, v in b_pages.items()},
            "server_cpu_cores_median": statistics.median(server_cpu),
            "server_runqueue_wait_median": statistics.median(server_wait)}


MD_BEGIN, MD_END = "<!-- app-latency:begin -->", "<!-- app-latency:end -->"


def markdown(result: dict) -> str:
    """The cold-start and under-training tables (for bench/results.md)."""
    cold, busy = result.get("cold_starts"), result.get("under_training")
    flags = " ".join(result.get("server_flags") or [])
    lines = [f"## App latency: first loads, median of cold starts (`bench/app_latency.py`, "
             f"{result['date']}, commit {result['commit']}, {result['cpus']} CPUs, load average before "
             f"{result['load_before'][0]:.2f}{', server flags ' + flags if flags else ''})", ""]
    head, rule, rows = ["page"], ["---"], {path or "Home": [path or "Home"] for path in PAGES}
    if FLOOR in (cold or busy)["pages"]:
        rows[FLOOR] = ["*floor: a title and two 3-point plotly charts (another server)*"]
    if cold:
        head.append(f"first load after start-up, idle (s, median of {cold['n']})")
        for k, v in cold["pages"].items():
            rows.setdefault(k, [k]).append(f"{v['median_s']:.2f}")
    if busy:
        head.append(f"first load in session B while a run trains and session A watches it (s, median of "
                    f"{busy['n']})")
        for k, v in busy["pages"].items():
            rows.setdefault(k, [k]).append(f"{v['median_s']:.2f}")
    rule += ["---:"] * (len(head) - 1)
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows.values()]
    if cold:
        worst = max(v["median_s"] for k, v in cold["pages"].items() if k != FLOOR)
        lines += ["", f"Idle: each page is the first page a fresh browser asks of a freshly started server "
                      f"(healthy after {cold['server_start_s']:.1f} s, median); slowest page {worst:.2f} s "
                      f"(target 3 s). Every sample (s): "
                      + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v['all_s'])}" for k, v in cold["pages"].items())
                      + ". The first Embeddings sample is the first map of these checkpoints ever (it loads the "
                        "models and encodes); the later ones read the runs folder's embedding store, as any "
                        "later visit, after a restart too, does."]
    if busy:
        t = busy["trainer"]
        threads = f", {t['torch_threads']} torch thread(s)" if t["torch_threads"] else ""
        worst = max(v["median_s"] for k, v in busy["pages"].items() if k != FLOOR)
        lines += ["", f"While training: a command-line run (InfoNCE, batch 32, the packaged model"
                      f"{', nice ' + str(t['nice']) if t['nice'] else ', normal priority'}"
                      f"{', SCHED_IDLE' if t.get('sched_idle') else ''}{threads}) trains "
                      f"into the runs folder at {t['steps_per_s_median']:.2f} steps/s; on each fresh server "
                      f"session A opens it on Train ({busy['session_a_train']['median_s']:.2f} s, median) and "
                      f"keeps watching, then session B loads every page once, each in a fresh browser context. "
                      f"Slowest page {worst:.2f} s (target 3 s). Meanwhile the server used "
                      f"{busy['server_cpu_cores_median']:.2f} cores and waited "
                      f"{busy['server_runqueue_wait_median']:.2f} s per second for a CPU (run queue, "
                      f"/proc schedstat)."]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, result: dict) -> None:
    """Replace the app-latency section of ``path`` (between its markers), or append it."""
    text = path.read_text() if path.exists() else ""
    block = f"{MD_BEGIN}\n{markdown(result)}{MD_END}\n"
    if MD_BEGIN in text and MD_END in text:
        head, rest = text.split(MD_BEGIN, 1)
        text = head + block + rest.split(MD_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def screenshots(out: Path, checkpoints: Path, train_run: str | None = None) -> None:
    """README screenshots of the app over an existing checkpoints folder. Nothing is written
    there: STS scores the packaged model (kept in the session), Similarity the shipped pairs."""
    from srl_explorer.data import sample_pairs_path
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_app(checkpoints.resolve(), port)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            pg = browser.new_page(viewport={"width": 1400, "height": 1050})
            pg.goto(url)
            pg.wait_for_function(RENDERED, arg=["SRL Explorer", 0], timeout=120_000)
            time.sleep(45)  # the first session started the UMAP warm-up; let it finish
            for path, (title, charts) in PAGES.items():
                pg.goto(f"{url}/{path}" + (f"?run={train_run}" if path == "Train" and train_run else ""))
                pg.wait_for_function(RENDERED, arg=[title, charts], timeout=300_000, polling=100)
                if path == "Train":
                    pg.get_by_text("New run").click()
                    pg.wait_for_timeout(800)
                    pg.screenshot(path=str(out / "train-form.png"))
                    pg.get_by_text("New run").click()
                elif path == "STS":
                    rerun_time(pg, pg.get_by_role("button", name="Evaluate").click, title, 1)
                elif path == "Similarity":
                    rerun_time(pg, lambda: pg.locator("input[type=file]").set_input_files(str(sample_pairs_path())),
                               title, 1)
                pg.wait_for_timeout(1500)
                pg.set_viewport_size({"width": 1400, "height": TALL.get(path, 1050)})
                pg.wait_for_timeout(1500)
                pg.screenshot(path=str(out / f"{(path or 'home').lower()}.png"))
                pg.set_viewport_size({"width": 1400, "height": 1050})
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="sections 1-3: visits of every page (0: skip them)")
    ap.add_argument("--cold-starts", type=int, default=0, metavar="N",
                    help="every page as the first page of a fresh server, N times (issue 15: 5)")
    ap.add_argument("--under-training", type=int, default=0, metavar="N",
                    help="session B's first loads while a run trains and session A watches it, N fresh servers")
    ap.add_argument("--trainer-nice", type=int, default=0,
                    help="niceness of the training run (default: train's own, --nice 10)")
    ap.add_argument("--trainer-threads", type=int, help="OMP_NUM_THREADS of the training run (default: torch's)")
    ap.add_argument("--trainer-no-idle", action="store_true",
                    help="train with --no-idle (the normal scheduling class, not train's default SCHED_IDLE)")
    ap.add_argument("--server-flags", default="", help="more streamlit flags for sections 4-5, e.g. "
                    "'--runner.postScriptGC true --server.fileWatcherType auto' (Streamlit's defaults)")
    ap.add_argument("--py-spy", type=Path, metavar="DIR", help="sample the server with py-spy while training")
    ap.add_argument("--md", type=Path, help="replace the app-latency section of this markdown file (bench/results.md)")
    ap.add_argument("--screenshots", type=Path, help="only take README screenshots into this folder")
    ap.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--train-run", help="run shown on the Train page screenshot (default: the newest)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "_work" / "app_latency.json", help="results file")
    args = ap.parse_args()
    if args.screenshots:
        screenshots(args.screenshots, args.checkpoints, args.train_run)
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": commit.stdout.strip(),
              "load_before": os.getloadavg(), "cpus": os.cpu_count()}
    flags = tuple(args.server_flags.split())
    result["server_flags"] = list(flags)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkpoints"
        root.mkdir()
        sleeper = make_runs(root)
        try:
            if args.repeats > 0:
                result.update(benchmark(root, args.repeats))
            if args.cold_starts > 0:
                result["cold_starts"] = cold_starts(root, args.cold_starts, flags)
            if args.under_training > 0:
                result["under_training"] = under_training(root, args.under_training, args.trainer_nice,
                                                          args.trainer_threads, args.py_spy, flags,
                                                          idle=not args.trainer_no_idle)
        finally:
            sleeper.kill()
    result["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print("load average {:.1f} {:.1f} {:.1f} on {} CPUs".format(*result["load_before"], result["cpus"]))
    if "pages" in result:
        print(f"server healthy after {result['server_start_s']:.1f} s")
        print(f"{'page':<12} {'first load':>11} {'reload (median)':>16} {'sidebar click (median)':>23}")
        for page, t in result["pages"].items():
            rest = f"{t['median_rest_s']:.2f} s" if t["median_rest_s"] is not None else "-"
            print(f"{page:<12} {t['first_s']:>9.2f} s {rest:>16} {t['sidebar_click_median_s']:>21.2f} s")
        d = result["metric_delay_s"]
        print(f"metric line on disk -> visible in the chart: median {d['median']:.2f} s, max {d['max']:.2f} s "
              f"({len(d['all'])} lines)")
        print(f"Embeddings, PCA -> UMAP (two maps): {result['umap_switch_s']:.2f} s; "
              f"UMAP of 420 new pairs (encode + two maps): {result['umap_new_sentences_s']:.2f} s")
    if "cold_starts" in result or "under_training" in result:
        print(markdown(result))
        if args.md:
            write_markdown(args.md, result)


if __name__ == "__main__":
    main()
