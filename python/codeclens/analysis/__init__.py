"""Analyses of a study's results: the findings of the seed papers as a library API on plain column tables.

Everything here works on a results table (``dict[str, numpy.ndarray]``, see ``table.py`` and
notes/RESULTS_TABLE.md) or on plain arrays, with numpy only; plots import matplotlib on first use.

- ``selectors``: HRS, T1K, T5K, TTK and budget selectors of Yang et al. 2021 (``run_selectors``).
- ``rankstats``: rank-difference statistics of the 2017 report (``setting_stats``, ``max_ratio_within_loss``,
  ``color_stats``, ``scale_stats``, ``rank_improvements``, ``overfitting_summary``).
- ``thresholds``: per-photo SSIM threshold (``ssim_threshold``, ``ssim_thresholds``, ``threshold_dependence``).
- ``bdrate``: BD-rate of accuracy with a monotone fit and a bootstrap interval (``bd_rate``,
  ``bd_rate_bootstrap``, ``bd_rate_codecs``).
- ``knee``: accuracy = a + c·log(q) and the quality knee (``log_fit``, ``find_knee``, ``knee_table``).
- ``report``: ``write_analysis_report(table, out_dir)``: Markdown + CSV + PNG.
"""

from __future__ import annotations

from .bdrate import bd_rate, bd_rate_bootstrap, bd_rate_codecs, bd_rate_detail, isotonic, monotone_points
from .knee import find_knee, knee_table, log_fit, plateau_drop
from .rankstats import (
    color_stats,
    max_ratio_within_loss,
    overfitting_summary,
    rank_difference,
    rank_improvements,
    scale_stats,
    setting_stats,
)
from .report import write_analysis_report
from .selectors import budget_select, build_pool, hrs, keeper, run_selectors, select_all, topk_accuracy
from .table import as_table, load_table, save_table
from .thresholds import ssim_threshold, ssim_thresholds, threshold_dependence

__all__ = [
    "as_table", "bd_rate", "bd_rate_bootstrap", "bd_rate_codecs", "bd_rate_detail", "budget_select", "build_pool",
    "color_stats", "find_knee", "hrs", "isotonic", "keeper", "knee_table", "load_table", "log_fit",
    "max_ratio_within_loss", "monotone_points", "overfitting_summary", "plateau_drop", "rank_difference",
    "rank_improvements",
    "run_selectors", "save_table", "scale_stats", "select_all", "setting_stats", "ssim_threshold",
    "ssim_thresholds", "threshold_dependence", "topk_accuracy", "write_analysis_report",
]
