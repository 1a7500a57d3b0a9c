"""The agent's settings: every knob of the strategies, and the sampling
temperature rule they share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from coderefl.records import Limits


class AgentConfig(BaseModel):
    """Every knob of the agent, including the ablation switches."""

    max_iters: int = Field(5, ge=1, description="generate/test rounds at most")
    num_tests: int = Field(6, ge=0, description="internal unit tests to keep")
    generated_tests: bool = Field(True, description="ablation: let the model write its own tests")
    reflection: bool = Field(True, description="ablation: verbal reflection (off: raw feedback only)")
    memory_size: int = Field(1, ge=0, description="reflections kept in episodic memory (Reflexion keeps 1)")
    property_tests: bool = Field(False, description="also ask for hypothesis properties")
    candidates: int = Field(1, ge=1, description="candidates per round, weighed by test agreement when > 1")
    temperature: float = Field(0.0, ge=0)
    samples: int = Field(1, ge=1, description="samples per problem of the run (pass@k); > 1 samples at sample_temperature")
    sample_temperature: float = Field(
        0.8, ge=0, description="generation temperature when several samples or candidates are asked for")
    resample_step: float = Field(0.4, ge=0, description="temperature rise when a regenerated program repeats a failed one")
    max_resamples: int = Field(2, ge=0, description="resamples of a reply that repeats an earlier failed program")
    trust_tiers: bool = Field(True, description="tell the model which tests are the user's, the problem's, its own; "
                                                "demote an example only on strong evidence")
    explain: bool = Field(False, description="reflection explains the code line by line on the failing input "
                                             "before naming the fault (Self-Debugging)")
    retry_temperature_step: float = Field(0.2, ge=0, description="retry: temperature rise per attempt")
    max_calls: int | None = Field(None, ge=1, description="budget: model calls per problem")
    max_tokens: int | None = Field(None, ge=1, description="budget: tokens per problem")
    max_wall_s: float | None = Field(None, gt=0, description="budget: wall time per problem")
    keep_messages: Literal["full", "hash"] = "full"
    lessons: int = Field(3, ge=0, description="lessons recalled from long-term memory, when one is given")
    limits: Limits = Field(default_factory=Limits)
    feedback: Literal["plain", "trace"] = Field(
        "plain", description="what a failed test tells the model: its values (plain), or also what the failing call "
                             "did line by line (trace, LDB-style; judge mode)")
    isolation: Literal["judge", "in-process"] = Field(
        "judge", description="how the agent's tests run: judge (plain data, a verdict the program cannot forge) "
                             "or in-process (for user tests that need the program's objects)")


def generation_temperature(config: AgentConfig) -> float:
    """The temperature of a generation call: with several samples or
    candidates, the sampling temperature (identical samples make pass@k equal
    pass@1 and leave nothing for agreement to weigh), else the configured one."""
    if config.samples > 1 or config.candidates > 1:
        return max(config.temperature, config.sample_temperature)
    return config.temperature


def sampling_warning(config: AgentConfig) -> str | None:
    """A one-line warning when several samples or candidates would all be drawn at temperature 0."""
    if (config.samples > 1 or config.candidates > 1) and generation_temperature(config) == 0:
        what = f"--samples {config.samples}" if config.samples > 1 else f"--candidates {config.candidates}"
        return (f"{what} at temperature 0 draws identical programs (pass@k equals pass@1, agreement weighs "
                "nothing); set --sample-temperature above 0")
    return None
