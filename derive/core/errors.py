"""The one exception the CLI turns into a one-line message and exit code 2."""


class InputError(ValueError):
    """Bad input from a user: the message names the problem in one line."""
