"""Deprecated alias of :mod:`srl_explorer.rundir`, kept only while modules still import it.

Import ``srl_explorer.rundir`` instead; this file goes once ``grep -rn "import runs"`` finds nothing.
"""
from .rundir import *  # noqa: F403
from .rundir import checkpoint_root

DEFAULT_ROOT = checkpoint_root()
