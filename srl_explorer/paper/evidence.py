"""The evidence: metric records of finished runs, and the reproductions that group them."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..rundir import RunDir, read_json
from ..viz import series as record_series


@dataclass
class RunMetrics:
    """One run's metric records; ``label`` names it in tables and legends."""

    label: str
    loss: str
    path: Path
    records: list[dict]
    state: str = "unknown"
    seed: int | None = None

    def series(self, key: str, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the finite values of ``key`` at steps >= ``start``; (N,) each."""
        steps, values = record_series(self.records, key)
        keep = (steps >= start) & np.isfinite(values)
        return steps[keep], values[keep]


def load_run(path: str | os.PathLike, label: str | None = None) -> RunMetrics:
    run = RunDir(path)
    records, _ = run.read_metrics()
    config = run.read_config()
    return RunMetrics(label or run.name, str(config.get("loss", "?")), run.path, records,
                      run.status().get("state", "unknown"), config.get("seed"))


def read_manifest(repro_dir: str | os.PathLike) -> dict:
    path = RunDir(repro_dir).reproduction_file
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise FileNotFoundError(f"{repro_dir}: not a reproduction directory (no readable {path.name})")
    return manifest


def load_reproduction(repro_dir: str | os.PathLike) -> list[RunMetrics]:
    """The runs of a reproduction that have started, seed by seed in the manifest's loss order. The runs of the
    first seed are labelled by their loss, the others ``<loss> · seed <N>``."""
    repro_dir = Path(repro_dir)
    manifest = read_manifest(repro_dir)
    seeds = manifest.get("seeds") or [manifest.get("settings", {}).get("seed")]
    runs = manifest.get("runs", {})
    out = []
    for seed in seeds:
        for loss in manifest.get("losses", []):
            key = loss if len(seeds) == 1 else f"{loss}-seed{seed}"
            run = RunDir(repro_dir / runs.get(key, {}).get("dir", key))
            if run.config_file.exists():
                out.append(load_run(run.path, label=loss if seed == seeds[0] else f"{loss} · seed {seed}"))
    return out


def find_reproductions(root: str | os.PathLike) -> list[Path]:
    """Reproduction directories directly under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if RunDir(d).is_reproduction()]
    return sorted(found, key=lambda d: (read_json(RunDir(d).reproduction_file, {}) or {}).get(
        "created", d.stat().st_mtime), reverse=True)


def by_loss(metrics: Sequence[RunMetrics]) -> dict[str, list[RunMetrics]]:
    """The runs of each loss (one per seed), in order."""
    out: dict[str, list[RunMetrics]] = {}
    for m in metrics:
        out.setdefault(m.loss, []).append(m)
    return out


def first_seed(metrics: Sequence[RunMetrics]) -> list[RunMetrics]:
    """The first run of each loss (the charts show one seed)."""
    return [runs[0] for runs in by_loss(metrics).values()]
