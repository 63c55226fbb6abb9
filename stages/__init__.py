"""godi: Go dynamic instrumentation, from DWARF to Datadog snapshots."""

__version__ = "0.1.0"
