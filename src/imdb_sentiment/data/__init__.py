"""Fetch, decode and vectorize the reviews: sequences, multi-hot features, bigrams, and raw-text encoding."""
