"""Proactive governance: hotspots, surges, repeat places, emerging topics."""
