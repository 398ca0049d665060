"""Turning result.json records into things people read."""
