"""The bottom layer: the IR every front end builds and every rule reads (:mod:`~convlint.core.ir`), symbolic sizes
(:mod:`~convlint.core.dims`) and exact conditions on them (:mod:`~convlint.core.conditions`), element types
(:mod:`~convlint.core.dtypes`), and the one-line errors that end a run (:mod:`~convlint.core.errors`).

Nothing here imports any other part of convlint.
"""
