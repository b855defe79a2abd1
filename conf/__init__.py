"""The Hydra config tree, installed with the package as ``imdb_sentiment.conf`` (src/imdb_sentiment/conf links
here), so ``imdb-sentiment`` finds its defaults outside a project: Hydra reads ``pkg://`` configs from a package."""
