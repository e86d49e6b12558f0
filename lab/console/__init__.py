"""The lab console: a web page on 127.0.0.1 to see and steer the lab (`lab console`), and
the static HTML reports rendered from the same templates (`lab/console/reports.py`)."""
