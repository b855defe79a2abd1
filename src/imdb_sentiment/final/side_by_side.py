"""What the final model's test score is read against, measured in the same stage on the same test reviews.

- **The protocol** (``final.train_on``): the winner is retrained under the other one too (15,000 rows or all
  25,000), with the same seed and epochs, so the results page shows both numbers, not one and a guess.
- **The notebook's own answer** (``final.notebook_variant`` for ``final.notebook_epochs``, the notebook's
  3-layer L2 model for 8 epochs), under our protocol and seed, compared with ours review by review: McNemar's
  exact test and the accuracy difference's 95 % interval (:mod:`imdb_sentiment.final.significance`).

Neither extra model is logged or registered: they are measurements, kept in ``side_by_side.json`` and the
final run's metrics.
"""

from __future__ import annotations

import numpy as np

from imdb_sentiment.config.schema import Config, TrainOn
from imdb_sentiment.data.features import Features
from imdb_sentiment.final.evaluate import binary_metrics
from imdb_sentiment.final.significance import describe, paired_test
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.training import train_seed
from imdb_sentiment.serve.predict import predict_proba


def protocol_rows(features: Features) -> dict[TrainOn, CsrRows]:
    """Both protocols' training rows, as TF constants (the partial rows are a slice of the full ones)."""
    return {
        TrainOn.partial: CsrRows.from_csr(*features.partial_train),
        TrainOn.full: CsrRows.from_csr(*features.full_train),
    }


def test_probabilities(cfg: Config, rows: CsrRows, epochs: int, x_test) -> np.ndarray:
    """Train ``cfg.model`` with ``final.seed`` for ``epochs`` on ``rows``; its test probabilities."""
    result = train_seed(cfg.model, cfg.trainer, cfg.final.seed, rows, None, epochs=epochs)
    return predict_proba(result.model, x_test)


def side_by_side(
    cfg: Config, notebook_cfg: Config, rows: dict[TrainOn, CsrRows], epochs: int, y_test, x_test, ours: np.ndarray
) -> tuple[dict, str]:
    """The numbers of ``side_by_side.json`` and the results page's sentence on the notebook's choice."""
    threshold, protocol = cfg.final.threshold, cfg.final.train_on
    other = TrainOn.full if protocol is TrainOn.partial else TrainOn.partial
    under_other = test_probabilities(cfg, rows[other], epochs, x_test)
    notebook = test_probabilities(notebook_cfg, rows[protocol], cfg.final.notebook_epochs, x_test)
    labels = (y_test >= 0.5).astype(int)
    test = paired_test(labels, (ours >= threshold).astype(int), (notebook >= threshold).astype(int))
    accuracies = {  # ours: the paired test's own count; the other protocol's: the final metrics' function
        protocol: test.accuracy_a,
        other: binary_metrics(y_test, under_other, threshold, cfg.model.loss)["test_accuracy"],
    }
    numbers = {f"test_accuracy_{on.value}": accuracies[on] for on in TrainOn}
    numbers.update({f"train_rows_{on.value}": rows[on].rows for on in TrainOn})
    numbers.update(
        notebook_test_accuracy=test.accuracy_b,
        ours_minus_notebook=test.difference,
        ours_minus_notebook_low=test.ci_low,
        ours_minus_notebook_high=test.ci_high,
        mcnemar_p_value=test.p_value,
        only_ours_right=test.only_a_right,
        only_notebook_right=test.only_b_right,
    )
    ours_name = f"{cfg.model.name} ({epochs} epochs)"
    notebook_name = f"the notebook's {notebook_cfg.model.name} ({cfg.final.notebook_epochs} epochs)"
    return numbers, describe(test, ours_name, notebook_name)
