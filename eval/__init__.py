"""j1.eval: reward benchmarks with their official metrics, both orders, self-consistency, reports
(`j1 eval`; the benchmarks' registry is `j1.eval.benchmarks`)."""
