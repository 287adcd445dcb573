"""The ``livebase`` command line."""
