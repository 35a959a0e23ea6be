"""One error table and every setting once: the CLI, the job runner and the API read the same kinds, and
every config field is an option of the commands that take it."""

from __future__ import annotations

import json

import pytest

import adapters
import graph_store
import overlay
import selector
from api.cli import SETTINGS
from api.errors import error_body
from common import KINDS, OverlayError
from overlay import RuntimeConfig, build_config
from overlay.jobs import JobStore
from selector import SelectorConfig


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_error_class_has_a_kind_of_the_table() -> None:
    assert graph_store and selector and adapters and overlay  # every package's errors are loaded
    classes = _subclasses(OverlayError)
    assert len(classes) > 10
    for cls in classes:
        assert cls.kind in KINDS, cls


@pytest.mark.parametrize(
    ("error", "exit_code", "status", "code"),
    [
        (adapters.AdapterError("bad name"), 2, 400, None),
        (graph_store.NotFoundError("no word"), 2, 404, "not_found"),
        (graph_store.WorkspaceBusyError("served"), 2, 409, "busy"),
        (graph_store.SnapshotError("corrupt"), 1, 503, "unavailable"),
        (selector.ModelLoadError("no model"), 1, 503, "unavailable"),
        (selector.errors.ContextLengthError("too long"), 2, 400, "context_length_exceeded"),
        (overlay.TraceNotFound("no trace"), 2, 404, "not_found"),
    ],
)
def test_one_kind_gives_one_exit_code_and_one_status(error, exit_code, status, code) -> None:
    assert (error.exit_code, error.status, error.code) == (exit_code, status, code)
    got_status, body = error_body(error)
    assert got_status == status and body["error"]["message"] == str(error) and body["error"]["code"] == code


def test_an_unexpected_error_is_a_500_that_names_only_its_type() -> None:
    status, body = error_body(KeyError("secret detail"))
    assert status == 500 and "secret" not in body["error"]["message"] and "KeyError" in body["error"]["message"]


def test_the_job_runner_records_a_user_error_as_failed(tmp_path) -> None:
    store = JobStore(tmp_path)

    def handler(job, progress):
        raise graph_store.NotFoundError("no such word")

    job = store.run(store.create("publish"), handler)
    assert job.status == "failed" and job.error == "no such word"


def test_configs_are_validated_and_name_the_setting() -> None:
    with pytest.raises(OverlayError, match="temperature") as info:
        build_config(RuntimeConfig, {"temperature": 9})
    assert info.value.param == "temperature" and info.value.status == 400
    base = RuntimeConfig(max_words=7)
    assert build_config(RuntimeConfig, {"beta": 1.5}, base) == RuntimeConfig(max_words=7, beta=1.5)


def test_every_setting_is_listed_and_is_an_option(cli) -> None:
    listed = json.loads(cli("config", "--json").stdout)
    assert {r["name"] for r in listed["runtime"]} == set(RuntimeConfig.model_fields)
    assert all(r["help"] for rows in listed.values() for r in rows)
    assert set(listed) == set(SETTINGS)
    assert {r["name"] for r in listed["selector"]} == set(SelectorConfig.model_fields)
    for command in (["ask"], ["chat"], ["eval", "recall"], ["bench", "speed"]):
        text = cli(*command, "--help").stdout
        for name in RuntimeConfig.model_fields:
            assert "--" + name.replace("_", "-") in text, (command, name)
    for command in (["ask"], ["chat"], ["replay"], ["serve"], ["eval", "edits"], ["bench", "speed"]):
        text = cli(*command, "--help").stdout
        for name in SelectorConfig.model_fields:
            assert "--" + name.replace("_", "-") in text, (command, name)


def test_a_bad_setting_exits_2_naming_it(cli) -> None:
    result = cli("ask", "What is a volcano?", "--temperature", "9", expect=2)
    assert "temperature" in result.output
    assert "trace" in cli("traces", "show", "nope", expect=2).output
