"""The chart model's fixed styles: a metric's colour never depends on trace order or run, runs of one loss
get their loss's colour and distinct dashes, and an empty panel keeps its note in the static PNG too."""
from __future__ import annotations

from srl_explorer.viz import METRIC_COLORS, Chart, Panel, live_panels, loss_dashes, overlay, save_png
from srl_explorer.viz.charts import PANELS

RECORDS = [{"step": 0, "elapsed_s": 0.0, "stsb_dev_spearman": 50.0, "dev_align": 0.5, "dev_uniform": -2.0},
           {"step": 1, "elapsed_s": 1.5, "loss": 2.0, "pos_prob": 0.3, "grad_norm": 1.0, "grad_norm_z": 0.01,
            "grad_norm_align": 0.02, "grad_norm_uniform": 0.03, "align": 0.4, "uniform": -2.1}]


def colours(chart: Chart) -> dict[str, str]:
    return {line.name: line.color for p in chart.panels for line in p.lines}


def test_every_live_metric_has_one_fixed_colour():
    assert {key for _, items in PANELS.values() for key, _, _ in items} <= set(METRIC_COLORS)
    full = colours(live_panels(RECORDS))
    partial = colours(live_panels([RECORDS[0]]))  # fewer traces before it: same colour for STS dev
    assert partial["STS dev"] == full["STS dev"] == METRIC_COLORS["stsb_dev_spearman"]
    for panel in live_panels(RECORDS).panels:  # lines of one panel are told apart by colour
        assert len({line.color for line in panel.lines}) == len(panel.lines)


def test_runs_of_one_loss_share_its_colour_and_differ_by_dash():
    dashes = loss_dashes({"a": "infonce", "b": "mpt", "c": "infonce"})
    assert dashes["a"] != dashes["c"] and dashes["b"] == dashes["a"] == "solid"
    chart = overlay({"a": RECORDS, "c": RECORDS[:1]}, "stsb_dev_spearman", colors={"a": "#1f77b4", "c": "#1f77b4"},
                    markers=True, dashes=dashes)
    a, c = sorted(chart.panels[0].lines, key=lambda line: line.name)
    assert a.color == c.color and a.dash != c.dash
    assert chart.panels[0].lines[-1].name == "c" and c.symbol == "diamond-open"  # a one-point run, drawn on top


def test_png_of_an_empty_panel_says_why(tmp_path):
    au = [{k: v for k, v in r.items() if k != "pos_prob"} for r in RECORDS[1:]]  # A&U logs no diagnostic
    chart = live_panels(au, "A&U", None)
    dissipation = next(p for p in chart.panels if p.title == "Dissipation")
    assert "nothing dissipates by design" in dissipation.note
    path = save_png(Chart("t", "", [dissipation, Panel("empty", [], note="no data yet")]), tmp_path / "t.png")
    assert path.stat().st_size > 1000
