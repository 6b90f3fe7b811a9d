"""`cachesync bench`: the real bridge pipeline between simulated clusters, measured."""
