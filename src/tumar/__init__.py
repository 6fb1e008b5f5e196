"""tumar: a self-hosted secure work messenger for government bodies."""

__version__ = "0.1.0"
