"""Drift: is the newest batch still like the data the champion was trained on?

detect.py runs the check; profile.py keeps what it needs of the reference table; stats.py,
rows.py, columns.py and domain.py hold the statistics; report.py, text.py and plot.py the result."""
