"""POLYHUNTER_EVENT_LOOP: which loop `eventloop.run` and the command runner really run on, and the errors."""

from __future__ import annotations

import asyncio
import gc
from contextlib import AsyncExitStack

import click
import pytest

from polyhunter import eventloop
from polyhunter.commands import _common
from polyhunter.errors import ConfigError
from polyhunter.settings import load_settings


async def _running_loop() -> str:
    return eventloop.loop_name()


async def _loop_class(_stack: AsyncExitStack) -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.fixture(autouse=True)
def _no_loop_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYHUNTER_EVENT_LOOP", raising=False)
    monkeypatch.setattr(_common, "_chosen_loop", None)


def test_uvloop_is_the_default_where_installed() -> None:
    assert eventloop.uvloop_available()  # a declared dependency: installed with the package
    assert eventloop.resolve() == "uvloop"
    assert eventloop.run(_running_loop()) == "uvloop"


def test_asyncio_when_asked_by_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert eventloop.run(_running_loop(), loop="asyncio") == "asyncio"
    monkeypatch.setenv("POLYHUNTER_EVENT_LOOP", "asyncio")
    assert eventloop.run(_running_loop()) == "asyncio"
    # An explicit choice wins over the environment.
    assert eventloop.run(_running_loop(), loop="uvloop") == "uvloop"


def test_asyncio_where_uvloop_is_missing_and_an_error_when_it_was_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: False)
    assert eventloop.resolve() == "asyncio"
    assert eventloop.run(_running_loop()) == "asyncio"
    with pytest.raises(ConfigError, match=r"POLYHUNTER_EVENT_LOOP: uvloop is not installed"):
        eventloop.run(_running_loop(), loop="uvloop")


def test_an_unknown_loop_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"POLYHUNTER_EVENT_LOOP: must be one of uvloop, asyncio \(got 'tokio'\)"
    ):
        eventloop.run(_running_loop(), loop="tokio")


def test_the_setting_is_validated_with_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYHUNTER_EVENT_LOOP", "twisted")
    with pytest.raises(ConfigError, match=r"^POLYHUNTER_EVENT_LOOP: "):
        load_settings()
    monkeypatch.setenv("POLYHUNTER_EVENT_LOOP", "ASYNCIO")
    assert load_settings().polyhunter_event_loop == "asyncio"
    monkeypatch.delenv("POLYHUNTER_EVENT_LOOP")
    assert load_settings().polyhunter_event_loop is None


def test_the_command_runner_runs_on_the_loop_the_settings_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only through the settings (as `.env` would give it): the environment is left unset afterwards.
    _common.settings_or_exit(polyhunter_event_loop="asyncio")
    assert _common.run_async(_loop_class).startswith("asyncio.")
    _common.settings_or_exit(polyhunter_event_loop="uvloop")
    assert _common.run_async(_loop_class).startswith("uvloop")
    assert _common.run_async(_loop_class, loop="asyncio").startswith("asyncio.")


def test_a_bad_loop_in_the_command_runner_exits_with_one_line() -> None:
    with pytest.raises(click.ClickException, match="POLYHUNTER_EVENT_LOOP"):
        _common.run_async(_loop_class, loop="gevent")


def test_running_a_command_raises_the_collectors_thresholds() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        eventloop.run(asyncio.sleep(0), loop="asyncio")
        assert gc.get_threshold() == eventloop.GC_THRESHOLDS
        gc.set_threshold(500_000, 20, 100)  # set higher by the embedding process: left alone
        eventloop.run(asyncio.sleep(0), loop="asyncio")
        assert gc.get_threshold() == (500_000, 20, 100)
    finally:
        gc.set_threshold(*saved)
