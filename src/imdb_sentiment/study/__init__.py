"""The variant study: each variant over its seeds, the comparison, the ranking and its figures."""
