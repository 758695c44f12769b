from convlint.cli import main

main(prog_name="convlint")
