"""BadInput, the base of every error that means the user's input cannot run (a flag value, a run directory,
data, arguments): an entry point ends with its one line, naming the problem and the fix, and status 2.

The bottom of the package: it imports nothing, so every layer (config and data included) can raise one."""


class BadInput(Exception):
    """Input that cannot run; the message is one line that names the problem and the fix."""
