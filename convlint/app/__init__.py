"""The application shell around the pipeline: what a user types or configures becomes the pipeline's arguments.

Target names and folders (:mod:`~convlint.app.targets`), ``--input-shape`` and ``--input-dtype``
(:mod:`~convlint.app.input_shapes`, :mod:`~convlint.app.input_dtypes`), the ``[tool.convlint]`` configuration
(:mod:`~convlint.app.config`) and the progress line (:mod:`~convlint.app.progress`). The CLI (:mod:`convlint.cli`) and the API (:func:`convlint.lint`) stand on it.
"""
