"""Reporting sinks: TensorBoard event files hold every streamed metric with metrics.jsonl's values."""
from __future__ import annotations

import json
import math

import pytest

from srl_explorer import reporting
from srl_explorer.cli import main
from srl_explorer.reporting import ReportingError, export_tb, make_sinks, parse_report_to, read_tb_scalars

NAMED = ("loss", "grad_norm_z", "pos_prob", "stsb_dev_spearman")


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_same_scalars(tb_dir, records: list[dict]) -> None:
    """Every numeric field of every record is a TensorBoard scalar at that step, equal in float32."""
    got = read_tb_scalars(tb_dir)
    assert set(NAMED) <= set(got), set(NAMED) - set(got)
    expected: dict[str, list[tuple[int, float]]] = {}
    for rec in records:
        for k, v in reporting.scalars(rec).items():
            expected.setdefault(k, []).append((rec["step"], v))
    assert set(got) == set(expected)
    for tag, points in expected.items():
        steps, values = zip(*sorted(got[tag]))
        assert list(steps) == [s for s, _ in sorted(points)], tag
        for a, (_, b) in zip(values, sorted(points)):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6, abs=1e-6), (tag, a, b)


def _fake_records(n: int = 5) -> list[dict]:
    recs = [{"step": 0, "elapsed_s": 0.0, "lr": 3e-5, "stsb_dev_spearman": 61.25, "dev_align": 0.4}]
    for s in range(1, n + 1):
        recs.append({"step": s, "elapsed_s": 0.1 * s, "lr": 3e-5 * (1 - s / n), "loss": 2.0 / s,
                     "grad_norm_z": 0.123456789 * s, "pos_prob": 0.1 + 0.01 * s, "ok": True, "note": "text"})
    recs[-1]["stsb_dev_spearman"] = 62.5
    return recs


def test_metrics_writer_feeds_the_tensorboard_sink(tmp_path):
    from srl_explorer.rundir import MetricsWriter
    recs = _fake_records()
    w = MetricsWriter(tmp_path / "metrics.jsonl", sinks=make_sinks("tensorboard", tmp_path))
    for r in recs:
        w.write(r)
    w.close()
    assert _jsonl(tmp_path / "metrics.jsonl") == recs  # the source of truth is unchanged
    assert_same_scalars(tmp_path / "tb", recs)
    assert "ok" not in read_tb_scalars(tmp_path / "tb") and "step" not in read_tb_scalars(tmp_path / "tb")


def test_export_tb_converts_a_run_and_never_doubles_curves(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    recs = _fake_records()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"step": 9, "lo')  # torn line
    assert main(["export-tb", str(run)]) == 0
    assert_same_scalars(run / "tb", recs)
    assert main(["export-tb", str(run)]) == 2  # already there: one line, no duplicate events
    assert "--force" in capsys.readouterr().err
    export_tb(run, force=True)
    assert_same_scalars(run / "tb", recs)
    assert main(["export-tb", str(tmp_path / "nothing")]) == 2


def test_report_to_values():
    assert parse_report_to(None) == parse_report_to("none") == parse_report_to("") == []
    assert parse_report_to("tensorboard,TensorBoard") == ["tensorboard"]
    with pytest.raises(ReportingError, match="not supported; choose from: tensorboard, wandb, mlflow"):
        parse_report_to("comet")


def test_missing_package_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(reporting.importlib.util, "find_spec", lambda name: None)
    for name in ("wandb", "mlflow", "tensorboard"):
        with pytest.raises(ReportingError, match=f"--report-to {name} needs the {name} package") as e:
            parse_report_to(name)
        assert "\n" not in str(e.value) and isinstance(e.value, ValueError)  # the CLI's user-error path


def test_training_run_reports_to_tensorboard(tiny_model, tmp_path):
    """A 5-step run with report_to=tensorboard: the event files hold metrics.jsonl's values; export-tb agrees."""
    from srl_explorer.training import TrainConfig, train
    run = train(TrainConfig(model=tiny_model, loss="infonce", max_steps=5, batch_size=8, eval_every=5,
                            eval_batch_size=64, max_train_sentences=100, output_dir=str(tmp_path / "run"),
                            report_to="tensorboard"))
    recs = _jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in recs] == [0, 1, 2, 3, 4, 5]
    assert_same_scalars(run / "tb", recs)
    assert json.loads((run / "config.json").read_text())["report_to"] == "tensorboard"
    export_tb(run, tmp_path / "exported")
    assert_same_scalars(tmp_path / "exported", recs)


def test_report_to_a_missing_package_fails_before_training(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reporting.importlib.util, "find_spec", lambda name: None)
    assert main(["train", "--model", tiny_model, "--max-steps", "1", "--batch-size", "4",
                 "--output-dir", str(tmp_path / "r"), "--report-to", "wandb"]) == 2
    assert "--report-to wandb needs the wandb package" in capsys.readouterr().err
