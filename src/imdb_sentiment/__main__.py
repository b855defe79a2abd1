"""``python -m imdb_sentiment <command>``: the same as the ``imdb-sentiment`` console script."""

from imdb_sentiment.cli import main

if __name__ == "__main__":
    main()
