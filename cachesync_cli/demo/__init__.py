"""`cachesync demo`: the seed scenario, live, with two real bridges in one process.

`scenario.py` builds two clusters (a real `Bridge` each, configured through `load_config`
from a generated TOML file, an `http` source and a `directory` target as the local cache)
and plays the story; `timeline.py` records each step with its latency and renders it.
No code path of the bridge knows it is in a demo.
"""
