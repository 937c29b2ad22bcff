"""The MLPerf Inference scenarios (Offline, Server, SingleStream) of a workload on a machine; see
:mod:`accelsim.mlperf.scenarios`."""
