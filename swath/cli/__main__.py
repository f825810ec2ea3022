"""`python -m swath.cli`: the `swath` command without the console script."""

from swath.cli import main

main()
