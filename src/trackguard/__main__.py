"""`python -m trackguard`: the same command as the `trackguard` script."""

from trackguard.cli import main

main()
