"""Measuring the local machine: ``accelsim probe`` (micro-benchmarks of the CPU, written as a hardware YAML) and
``accelsim measure`` (a workload's encoder and one decode iteration run for real, beside accelsim's prediction)."""
