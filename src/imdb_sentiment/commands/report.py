"""Write the results page, reports/README.md, from the stages' outputs.

DVC stage `report`."""

from imdb_sentiment.report.page import write_results_page

CONFIG = "config"  # conf/config.yaml
task = write_results_page
