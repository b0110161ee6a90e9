"""Monitoring of the data itself: is Silver keeping up with the live sources, and does Gold hold every Silver day?

Owns: the checks (``checks``: pure functions of an open connection, the share and a clock) and the task bodies
of ``data_freshness`` (``tasks``).
"""
