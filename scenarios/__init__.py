"""MLPerf's LoadGen concepts, as its reference harness has them: the scenarios (each with
its SUT and headline), the query sample library, the test settings, and reading LoadGen's
logs. A SUT drives a backend through its interface only, so this package sits below
`backends`."""
