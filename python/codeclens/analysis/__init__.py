"""Analyses of a study's results: the findings of the seed papers as a library API on plain column tables.

The one owner of every statistic over a results table (``dict[str, numpy.ndarray]``, the contract in
``table.py``; a pandas DataFrame is accepted): numpy, pandas and scipy, no store and no torch; plots import
matplotlib on first use. Reading a store into a table is the study layer's (``codeclens.study.store``).

- ``accuracy``: top-k accuracy with its 95 % Wilson interval over photos (``accuracy``, ``wilson_interval``).

- ``selectors``: HRS, T1K, T5K, TTK and budget selectors of Yang et al. 2021 (``run_selectors``).
- ``rankstats``: the per-setting table (``setting_stats``) and the 2017 report's statistics (``max_ratio_within_loss``,
  ``color_stats``, ``scale_stats``, ``rank_improvements``, ``overfitting_summary``).
- ``thresholds``: per-photo SSIM threshold (``ssim_threshold``, ``ssim_thresholds``, ``threshold_dependence``).
- ``bdrate``: BD-rate of accuracy with a monotone fit and a bootstrap interval (``bd_rate``,
  ``bd_rate_bootstrap``, ``bd_rate_codecs``).
- ``knee``: accuracy = a + c·log(q) and the quality knee (``log_fit``, ``find_knee``, ``knee_table``).
- ``timing``: where a study's time goes, per codec and stage (``stage_times``).
- ``report``: ``write_analysis_report(table, out_dir)``: Markdown + CSV + PNG.
"""

from __future__ import annotations

from .accuracy import Accuracy, accuracy, wilson_interval
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
from .timing import stage_times

__all__ = [
    "Accuracy", "accuracy", "wilson_interval",
    "as_table", "bd_rate", "bd_rate_bootstrap", "bd_rate_codecs", "bd_rate_detail", "budget_select", "build_pool",
    "color_stats", "find_knee", "hrs", "isotonic", "keeper", "knee_table", "load_table", "log_fit",
    "max_ratio_within_loss", "monotone_points", "overfitting_summary", "plateau_drop", "rank_difference",
    "rank_improvements",
    "run_selectors", "save_table", "scale_stats", "select_all", "setting_stats", "ssim_threshold",
    "ssim_thresholds", "stage_times", "threshold_dependence", "topk_accuracy", "write_analysis_report",
]
