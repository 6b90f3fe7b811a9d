"""`cachesync doctor`: ordered end-to-end checks of whether invalidations can really flow.

`checks.CHECKS` is the ordered list, `runner` runs it (prerequisites, timing, retries),
`render` writes the report as text, JSON, JUnit XML or a Nagios line.
"""
