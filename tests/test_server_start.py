"""`streamlit run app.py` serves the ``st.App`` in app.py, whose start-up loads the pages' modules before the
server answers (``srl_explorer.ui.page.lifespan``), so a page's first script run skips those imports."""
from __future__ import annotations

from pathlib import Path

from bench._browser import free_port, start_app

ROOT = Path(__file__).resolve().parents[1]


def _loaded(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_server_has_loaded_the_pages_modules_before_the_first_page(tmp_path):
    server = start_app(tmp_path, free_port())
    try:
        maps = _loaded(server.pid)  # healthy, and no browser has asked for a page yet
        assert "pandas/_libs" in maps and "pyarrow" in maps  # Compare's and Home's tables
        assert "libtorch" not in maps  # no page needs torch to render; it is loaded after the first page
    finally:
        server.terminate()
        server.wait(30)


def test_the_page_modules_are_read_from_the_pages(tmp_path):
    """The list of modules to load is the pages' own import statements, so it cannot fall behind them."""
    from srl_explorer.ui.page import page_imports
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text("import streamlit as st\nfrom srl_explorer import rundir, DEFAULT_MODEL\n")
    page = "import numpy as np\n\ndef f():\n    from srl_explorer.viz import to_plotly\n"
    (tmp_path / "pages" / "1_A.py").write_text(page)
    assert page_imports(tmp_path) == ["streamlit", "srl_explorer", "srl_explorer.rundir", "numpy", "srl_explorer.viz"]
