"""coderefl's in-sandbox runner (plain standard library, no coderefl imports).

Copied into the sandbox image and also run by the unsafe local backend.
Modules: ``server`` (jobs, clean-up, verdict), ``zygote`` (where job processes
are forked from), ``judge`` and ``candidate`` (judge mode), ``inprocess``
(in-process mode), ``harness`` (running test steps), ``plan`` (reading a tests
file), ``codec`` (plain data across the judge/candidate pipe), ``wire``
(framing), ``proc`` (confining a job process).
"""
