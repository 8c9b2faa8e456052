"""Execution: the only way a copy job touches the chain or a venue (`execute(job, journal)`)."""

from polyhunter.execution.base import ExecutionEngine, ExecutionResult, JobJournal

__all__ = ["ExecutionEngine", "ExecutionResult", "JobJournal"]
