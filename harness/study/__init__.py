"""Many measurements: sweep matrices, the sweep (fresh processes, resume, repeats) and
`prepare` (build on the host, run on the board). Stands on `harness.measure`."""
