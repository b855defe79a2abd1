"""The compare stage: the variants ranked over their seeds, the choice and its reason, tables and figures."""
