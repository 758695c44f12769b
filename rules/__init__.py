"""convlint's built-in rule pack, one rule per module, each registered in the ``convlint.rules`` entry-point group.

Installed as ``convlint_rules`` so that no top-level package called ``rules`` lands in site-packages.
"""
