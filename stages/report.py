"""DVC stage: the results page reports/README.md, from the stages' outputs."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.report.page import write_results_page


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, write_results_page)


if __name__ == "__main__":
    run_and_exit(main)
