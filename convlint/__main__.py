from convlint.cli import run

run()
