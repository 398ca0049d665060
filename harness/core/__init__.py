"""The foundation: what every layer above stands on and which imports nothing above it.

Errors, progress output, the model zoo and its weights, the artifact cache and prepared
folders, datasets and their preprocessing, calibration sets, machine and board facts,
and the result record (`records`).
"""
