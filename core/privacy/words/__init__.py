"""Word lists of callers' pseudonyms, one TOML file per language (see ``pseudonyms.py``)."""
