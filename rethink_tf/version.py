"""The package's version, written once: setup.cfg reads it (version = attr:) and so does every module that
records it. Imports nothing, so that any module may import it without an import cycle."""

__version__ = "0.6.0"
