"""Helpers the test modules share, by topic. A test module imports from here, never from another test module or
from conftest (tests/architecture/test_test_layout.py checks); conftest.py holds the fixtures."""
