"""Technician tools built on the read-only system layer (``techcare.tools.drivers``: driver management)."""
