"""The error of a master the build cannot make into an exercise notebook (a module of its own, so that the
build and its nbgrader step both raise it without importing each other)."""


class BuildError(ValueError):
    """A master notebook's markers are not well formed (the message names the notebook, cell and line)."""
