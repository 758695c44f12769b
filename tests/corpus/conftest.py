# The case files here are models, not tests: keep pytest from collecting or importing them.
collect_ignore_glob = ["*.py"]
