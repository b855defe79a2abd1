"""Side-by-side measurements against the original notebook's method, on the real data (usage: ``__main__``).

``harness`` runs each contender in its own child process and renders the tables; one module per benchmark
(``vectorize``, ``train_epoch``, ``mlflow_share``, ``pipeline``, ``lines_of_code``) holds what its child process
measures and its rows; ``revisions`` is ``--against REV``. The figures belong in docs/performance.md.
"""
