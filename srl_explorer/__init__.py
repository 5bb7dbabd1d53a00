"""SRL Explorer: contrastive learning of sentence representations, made visible.

Losses (``srl_explorer.losses``), an encoder (``srl_explorer.encoder``), an unsupervised
SimCSE trainer that streams metrics to a run directory (``srl_explorer.train``,
``srl_explorer.runs``), and STS evaluation. The Streamlit app lives in ``app.py`` and ``pages/``.
"""

__version__ = "0.1.0"
