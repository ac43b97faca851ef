"""Trigger conditions: every form KFP's compiler writes, parsed and evaluated with CEL's rules;
what cannot be evaluated is an error, never a skipped branch."""

import pytest
import yaml
from kfp import compiler, dsl

from vtp.local.orchestrator.conditions import ConditionError, parse_condition
from vtp.local.orchestrator.ir import PipelineLoadError, load_pipeline_text


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def text() -> str:
    return "a"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def number() -> float:
    return 0.5


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def count() -> int:
    return 3


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def flag() -> bool:
    return True


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def noop():
    pass


@dsl.pipeline(name="conditions")
def _conditions(limit: int = 2, name: str = "a"):
    t, n, c, f = text(), number(), count(), flag()
    with dsl.If(t.output == "a"):
        noop()
    with dsl.If(n.output > 0.25):
        noop()
    with dsl.If(n.output > 1):  # double against an int literal: double(1)
        noop()
    with dsl.If(c.output >= limit):
        noop()
    with dsl.If(f.output == True):  # noqa: E712 (KFP compiles == True)
        noop()
    with dsl.If(c.output == 3, name="first"):
        noop()
    with dsl.Elif(t.output != name, name="second"):
        noop()
    with dsl.Else(name="otherwise"):
        noop()


def _compiled_conditions(tmp_path) -> list[str]:
    path = tmp_path / "conditions.yaml"
    compiler.Compiler().compile(_conditions, str(path))
    spec = yaml.safe_load(path.read_text())
    found = []

    def walk(dag):
        for task in dag.get("tasks", {}).values():
            cond = (task.get("triggerPolicy") or {}).get("condition")
            if cond:
                found.append(cond)
            inner = spec["components"][task["componentRef"]["name"]].get("dag")
            if inner:
                walk(inner)

    walk(spec["root"]["dag"])
    return found


def test_every_condition_kfp_compiles_parses(tmp_path):
    conditions = _compiled_conditions(tmp_path)
    assert len(conditions) == 8
    assert any("double(1)" in c for c in conditions)
    assert any(c.startswith("!(") for c in conditions)
    values = {
        "pipelinechannel--text-Output": "a",
        "pipelinechannel--number-Output": 0.5,
        "pipelinechannel--count-Output": 3,
        "pipelinechannel--flag-Output": True,
        "pipelinechannel--limit": 2,
        "pipelinechannel--name": "b",
    }
    results = [parse_condition(c).evaluate(values) for c in conditions]
    assert results == [True, True, False, True, True, True, False, False]


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("inputs.parameter_values['x'] == 'pass'", {"x": "pass"}, True),
        ("inputs.parameter_values['x'] != 'pass'", {"x": "pass"}, False),
        ("int(inputs.parameter_values['x']) > 2", {"x": 3.0}, True),
        ("int(inputs.parameter_values['x']) == 2", {"x": 2.9}, True),  # truncates
        ("inputs.parameter_values['x'] > double(1)", {"x": 1.5}, True),
        ("inputs.parameter_values['x'] < 1", {"x": 0.5}, True),  # int/double compare
        ("inputs.parameter_values['x'] == true", {"x": True}, True),
        (
            "!(inputs.parameter_values['x'] == 'a') && inputs.parameter_values['y'] >= 0",
            {"x": "b", "y": 0},
            True,
        ),
        (
            "inputs.parameter_values['x'] == 'a' || inputs.parameter_values['y'] > 1",
            {"x": "b", "y": 2},
            True,
        ),
        ("inputs.parameter_values['x'] == 'it\\'s'", {"x": "it's"}, True),
        ("double(inputs.parameter_values['x']) >= 0.1", {"x": "0.5"}, True),
        ("string(inputs.parameter_values['x']) == '3'", {"x": 3}, True),
        ("inputs.parameter_values['x'] < 'b'", {"x": "a"}, True),
    ],
)
def test_cel_evaluation(condition, values, expected):
    assert parse_condition(condition).evaluate(values) is expected


@pytest.mark.parametrize(
    ("condition", "values", "message"),
    [
        ("inputs.parameter_values['x'] == 1", {"x": "1"}, "no matching overload"),
        ("inputs.parameter_values['x'] > 'a'", {"x": 2}, "no matching overload"),
        ("inputs.parameter_values['x'] == 'a'", {}, "has no value"),
        ("inputs.parameter_values['x'] < true", {"x": False}, "cannot be ordered"),
        ("int(inputs.parameter_values['x']) == 1", {"x": "one"}, "not a valid conversion"),
        ("int(inputs.parameter_values['x']) == 1", {"x": float("nan")}, "out of range"),
        ("inputs.parameter_values['x']", {"x": "a"}, "not a boolean"),
        ("!inputs.parameter_values['x']", {"x": "a"}, "needs a boolean"),
        ("inputs.parameter_values['x'] == 'a'", {"x": [1]}, "no matching overload"),
    ],
)
def test_what_cel_refuses_is_an_error_not_false(condition, values, message):
    with pytest.raises(ConditionError, match=message):
        parse_condition(condition).evaluate(values)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "inputs.parameter_values['x'] +",
        "inputs.parameter_values['x'] == 1 == 2",
        "inputs.artifacts['x'] == 1",
        "size(inputs.parameter_values['x']) > 1",
        "inputs.parameter_values[x] == 1",
        "(inputs.parameter_values['x'] == 1",
        "inputs.parameter_values['x'] == 'a' ;",
    ],
)
def test_conditions_outside_the_compiled_form_are_refused_when_parsed(text):
    with pytest.raises(ConditionError, match="cannot be evaluated locally"):
        parse_condition(text)


def test_a_pipeline_with_an_unparseable_condition_is_refused_at_load(tmp_path):
    path = tmp_path / "c.yaml"
    compiler.Compiler().compile(_conditions, str(path))
    text = path.read_text().replace("== 'a'", "=~ 'a'", 1)
    with pytest.raises(PipelineLoadError, match="cannot be evaluated locally"):
        load_pipeline_text(text)


def test_parameters_read_by_a_condition():
    condition = parse_condition(
        "!(inputs.parameter_values['a'] == 'x') && int(inputs.parameter_values['b']) > 1"
    )
    assert condition.parameters == {"a", "b"}
