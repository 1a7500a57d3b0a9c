"""Problem sets (HumanEval, MBPP, custom), the hidden-test scorer and pass@k.

The strategy layer gets ``BenchmarkTask.problem`` only; ``Scorer`` is the
one reader of ``BenchmarkTask.hidden``.
"""

from coderefl.problems.firewall import hidden_fragments
from coderefl.problems.passk import bootstrap_interval, pass_at_k, summarize_pass_at_k, wilson_interval
from coderefl.problems.registry import benchmark_names, find_task, load_benchmark
from coderefl.problems.samples import completion_for, program_for, write_samples
from coderefl.problems.scorer import Scorer, score_generated_tests
from coderefl.problems.selftest import self_test_quality

__all__ = [
    "Scorer",
    "benchmark_names",
    "bootstrap_interval",
    "completion_for",
    "find_task",
    "hidden_fragments",
    "load_benchmark",
    "pass_at_k",
    "program_for",
    "score_generated_tests",
    "self_test_quality",
    "summarize_pass_at_k",
    "wilson_interval",
    "write_samples",
]
