"""The study: photos x codec settings -> classifier -> cached SQLite store -> report.

- :mod:`~codeclens.study.grid`: settings, presets (qf-ladder, seed2017, codecs-vs-rate, quick), grid files.
- :mod:`~codeclens.study.store`: the SQLite store and its ``results()`` table.
- :mod:`~codeclens.study.runner`: ``run_study`` (thread pool for codecs, batched inference, resumable).
- :mod:`~codeclens.study.report`: Markdown + CSV + PNG report.
- :mod:`~codeclens.study.commands`: ``codeclens study`` / ``codeclens report``.

Submodules are imported on use (nothing heavy at package import).
"""
