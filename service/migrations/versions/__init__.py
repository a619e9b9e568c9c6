"""Migration scripts, oldest first; file names start with the revision id."""
