"""`python -m dancenow ...`: the `dancenow` command."""

from dancenow.cli import main

if __name__ == "__main__":
    main(prog_name="dancenow")
