"""cachesync: keep caches coherent across Active-Active clusters through a central broker topic."""

__version__ = "0.1.0"
