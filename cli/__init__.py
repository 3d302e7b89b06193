"""The ``descent`` command line."""
