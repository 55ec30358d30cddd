"""Tables and figures, each computed from the tidy per-run metrics tables."""
