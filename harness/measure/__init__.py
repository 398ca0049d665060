"""One measurement: a run's configuration, its plan, the probe, LoadGen's test and the
result record it writes. Stands on `scenarios` and `backends`."""
