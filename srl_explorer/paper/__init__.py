"""The paper (Nie, Zhang, Mao, ICLR 2023), checked: reproduce its comparison and judge its claims.

    evidence.py     metric records of runs and reproductions (RunMetrics, load_run, load_reproduction)
    claims.py       dev-STS summaries, gradient fade, and a verdict on each of the three claims
    charts.py       the evidence as viz charts (shared by the report and the Paper page)
    report.py       report.md with PNG and HTML charts
    reproduce.py    the ``reproduce`` subcommand: every loss with the same settings, then the report
    dissipation.py  gradient dissipation on a synthetic batch, without training (the Paper page's explorer)
"""
from .charts import au_plane_chart, claim_chart, dev_sts_chart, dissipation_chart, grad_norm_chart, report_charts
from .claims import CLAIMS, VERDICTS, ClaimResult, evaluate_claims, fade, loss_table, summarize_run, summary_table
from .evidence import RunMetrics, find_reproductions, first_seed, load_reproduction, load_run, read_manifest
from .report import REPORT, SENTEVAL_HINT, STARTING_MODEL_NOTE, loss_table_markdown, senteval_markdown, write_report

__all__ = ["CLAIMS", "REPORT", "SENTEVAL_HINT", "STARTING_MODEL_NOTE", "VERDICTS", "first_seed", "loss_table",
           "loss_table_markdown", "senteval_markdown", "ClaimResult", "RunMetrics", "au_plane_chart", "claim_chart",
           "dev_sts_chart", "dissipation_chart", "evaluate_claims", "fade", "find_reproductions", "grad_norm_chart",
           "load_reproduction", "load_run", "read_manifest", "report_charts", "summarize_run", "summary_table",
           "write_report"]
