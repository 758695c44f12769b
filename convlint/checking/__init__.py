"""Rules at work: the registry that finds every rule through its entry point (:mod:`~convlint.checking.registry`),
the engine that runs the selected rules over a graph (:mod:`~convlint.checking.engine`), and the step that joins
findings across the branches a PyTorch trace took (:mod:`~convlint.checking.branches`).

A rule itself is written against :mod:`convlint.rule` and lives in the rule pack (``rules/``, installed as
``convlint_rules``); this package imports no rule.
"""
