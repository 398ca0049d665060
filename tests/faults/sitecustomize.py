"""Test-only fault injection for sweep children (on PYTHONPATH only in tests).

EDGEBENCH_TEST_FAULT="openvino=crash,tflite=hang" makes `edgebench run` abort, or
sleep for an hour, when asked for that backend: a crashing or hung runtime, without a
hook in edgebench itself.
"""

import importlib.util
import os
import sys
import time

FAULTS = dict(item.split("=", 1) for item in
              filter(None, os.environ.get("EDGEBENCH_TEST_FAULT", "").split(",")))


class _WrapRunner:
    def find_spec(self, name, path, target=None):
        if name != "harness.measure.runner":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            real = module.run_benchmark

            def run_benchmark(config):
                fault = FAULTS.get(config.backend)
                if fault == "crash":
                    print("about to crash", flush=True)
                    os.abort()
                if fault == "hang":
                    print("about to hang", flush=True)
                    time.sleep(3600)
                return real(config)

            module.run_benchmark = run_benchmark

        spec.loader.exec_module = exec_module
        return spec


if FAULTS:
    sys.meta_path.insert(0, _WrapRunner())
