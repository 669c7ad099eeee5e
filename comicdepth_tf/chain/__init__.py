"""The papermill machinery that runs the notebook chain: parameters and their profiles
(``config``), notebook checks (``hygiene``), the runner and its stage reuse ledger
(``runner``, ``stage_reuse``, ``peak_memory``), and what a run leaves behind (``reporting``,
``report_tables``, ``metrics_diff``). Nothing below this package imports it.
"""
