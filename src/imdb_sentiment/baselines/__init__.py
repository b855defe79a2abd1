"""What the final model's test score is read against: the winner under the other retraining protocol and the
notebook's own choice, retrained on the same reviews (the baselines stage), and the paired test between the
notebook's choice and ours (the side_by_side stage)."""
