"""The results page: the study's answer written from the stages' outputs."""
