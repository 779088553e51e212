"""Measurement: measure, compare, peaks, bandwidth, canaries, plots.
Imports the api layer and itself."""
