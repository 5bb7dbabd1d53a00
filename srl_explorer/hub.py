"""Push a run's checkpoint to the Hugging Face hub: ``srl-explorer push --run RUN --repo-id ID``.

The folder uploaded is the checkpoint itself (``best/`` by default): the Hugging Face backbone,
the sentence-transformers module files and the model card (``st_format``). A checkpoint saved
before those existed gets them first. The trainer's resumable state (``trainer_state.pt``, a
pickle with optimizer moments) is never uploaded. Every failure — offline, no token, no such
run — is one line (exit code 2 through the CLI).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import st_format
from .encoder import POOLING_FILE
from .rundir import MODEL_CONFIG, RunDir

CHECKPOINTS = ("best", "final", "last")
NEVER_UPLOADED = ["trainer_state.pt", ".*", "*.tmp"]


class HubError(OSError):
    """A push that cannot be done; the message is one line."""


def checkpoint_dir(run: str | os.PathLike, checkpoint: str = "best") -> Path:
    """``RUN/<checkpoint>``; ``RUN`` may also be a checkpoint folder itself."""
    run = Path(run)
    if (run / POOLING_FILE).exists():
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    ckpt = run / checkpoint
    if not (ckpt / MODEL_CONFIG).exists():
        have = [c for c in CHECKPOINTS if (run / c / MODEL_CONFIG).exists()]
        raise FileNotFoundError(f"{run}: no {checkpoint}/ checkpoint"
                                + (f" (it has: {', '.join(have)}; choose one with --checkpoint)" if have else ""))
    return ckpt


def _card_info_for(ckpt: Path) -> dict:
    """Card facts from the run folder around ``ckpt``: its config, and the step and dev STS of the checkpoint."""
    run = RunDir(ckpt.parent)
    config = run.read_config()
    if "loss" not in config:
        return st_format.card_info()
    evals = [r for r in run.read_metrics()[0] if "stsb_dev_spearman" in r]
    step = score = None
    if evals and ckpt.name == "best":
        rec = max(evals, key=lambda r: r["stsb_dev_spearman"])
        step, score = rec["step"], rec["stsb_dev_spearman"]
    elif evals and ckpt.name in ("final", "step0"):
        rec = evals[-1] if ckpt.name == "final" else evals[0]
        step, score = rec["step"], rec["stsb_dev_spearman"]
    return st_format.card_info(config, step, score)


def prepare(ckpt: str | os.PathLike) -> list[str]:
    """Make sure ``ckpt`` has its model card and module files; return the files that will be uploaded."""
    ckpt = Path(ckpt)
    if not (ckpt / st_format.CARD_FILE).exists():
        from .encoder import Encoder
        enc = Encoder.from_pretrained(ckpt)
        st_format.write_sentence_transformers_files(enc, ckpt)
        st_format.write_model_card(ckpt, enc, _card_info_for(ckpt))
    files = []
    for p in sorted(ckpt.rglob("*")):
        rel = p.relative_to(ckpt).as_posix()
        if p.is_file() and not any(Path(rel).match(pat) for pat in NEVER_UPLOADED) \
                and not any(part.startswith(".") for part in Path(rel).parts):
            files.append(rel)
    return files


def push(run: str | os.PathLike, repo_id: str, checkpoint: str = "best", private: bool = False,
         token: str | None = None) -> str:
    """Create ``repo_id`` (if needed) and upload the checkpoint folder; returns the repo URL."""
    ckpt = checkpoint_dir(run, checkpoint)
    prepare(ckpt)
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise HubError(f"cannot push to {repo_id!r}: the Hugging Face hub is unreachable in offline mode "
                       "(HF_HUB_OFFLINE=1 is set)")
    try:
        from huggingface_hub import HfApi
        api = HfApi(token=token)
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=str(ckpt), ignore_patterns=NEVER_UPLOADED,
                          commit_message=f"Upload {ckpt.parent.name}/{ckpt.name} from SRL Explorer")
    except Exception as e:  # noqa: BLE001 - offline, DNS, auth or a bad repo id: one clear line
        text = " ".join(str(e).split())[:300]
        raise HubError(f"cannot push to {repo_id!r}: {type(e).__name__}: {text}") from e
    return str(url)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run directory (or a checkpoint folder)")
    p.add_argument("--repo-id", required=True, help="hub repository, e.g. your-name/simcse-mpt")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS, help="which checkpoint (default %(default)s)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--token", default=None, help="hub token (default: HF_TOKEN or the cached login)")
    p.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded, upload nothing")


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        ckpt = checkpoint_dir(args.run, args.checkpoint)
        files = prepare(ckpt)
        print(f"would upload {ckpt} to {args.repo_id}:")
        print("\n".join(f"  {f}" for f in files))
        return 0
    url = push(args.run, args.repo_id, args.checkpoint, args.private, args.token)
    print(f"pushed to {url}")
    return 0
