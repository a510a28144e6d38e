"""The one exception type the library raises for bad input; the CLI prints it as one line."""


class DancenowError(Exception):
    """A user-facing error: bad input, a missing file, an incompatible model. One line of text."""
