"""The one error an import gives: a line the command line prints as it is."""


class ImportRefused(Exception):
    """The file cannot be imported; the message says why in one line, and what to do."""
