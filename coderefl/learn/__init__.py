"""Learning from experience, beyond one problem (issue 8).

* Long-term memory (AGILE): :class:`LessonMemory` stores lessons (the
  reflections that led to an internal pass, picked by
  :func:`lessons_from_trajectory`) in SQLite and retrieves the most similar
  ones by BM25 (:mod:`coderefl.learn.bm25`); :func:`with_lessons` puts them
  into a prompt.
* Asking an expert (AGILE): :class:`OracleAdvisor` (eval: the canonical
  solution run in the sandbox on the agent's input), :class:`HumanAdvisor`
  (solve: the person at the terminal), the agent's side in
  :mod:`coderefl.strategies.asking`, and :func:`advice_summary` for the report.

Export for fine-tuning (FireAct) reads run folders, so it lives with them:
:mod:`coderefl.run.export`. Learn depends on strategies (it provides the
:class:`~coderefl.strategies.services.LessonStore` and
:class:`~coderefl.strategies.services.Expert` they declare), never the
other way round, and nothing here imports :mod:`coderefl.run`.
"""

from coderefl.learn.advisor import Advice, Advisor, HumanAdvisor, OracleAdvisor
from coderefl.strategies.asking import (
    advice_note,
    advice_requests,
    consult,
    advice_tests,
    low_confidence,
    parse_unsure_args,
    unsure_prompt,
)
from coderefl.learn.bm25 import BM25, tokenize
from coderefl.learn.lessons import lessons_block, lessons_from_trajectory, with_lessons
from coderefl.learn.memory import Lesson, LessonMemory
from coderefl.learn.stats import advice_summary

__all__ = [
    "BM25",
    "Advice",
    "Advisor",
    "HumanAdvisor",
    "Lesson",
    "LessonMemory",
    "OracleAdvisor",
    "advice_note",
    "advice_requests",
    "consult",
    "advice_summary",
    "advice_tests",
    "lessons_block",
    "lessons_from_trajectory",
    "low_confidence",
    "parse_unsure_args",
    "tokenize",
    "unsure_prompt",
    "with_lessons",
]
