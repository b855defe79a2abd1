"""The final model: retrain the winner, score it on the test reviews, and set it beside the notebook's choice."""
