"""Process, exit and file machinery every stage shares: expected errors, atomic outputs, quiet start-up, and
the runner that puts independent DVC stages side by side."""
