"""Report formats. Each renders a :class:`~convlint.report.Report` to a string."""
