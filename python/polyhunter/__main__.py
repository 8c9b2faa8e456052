"""`python -m polyhunter`: the same command line as the `polyhunter` script."""

from polyhunter.cli import main

main(prog_name="polyhunter")
