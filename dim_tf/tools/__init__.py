"""Tools around training: the benchmark (`bin/benchmark`) and what the machine can do."""
