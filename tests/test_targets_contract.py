"""Every LOCAL twin has its VERTEX op's interface: input and output names, types and
optionality, compared on the compiled IR (what a pipeline is built against)."""

import pytest

from vtp.components.targets import LOCAL, VERTEX


def _interface(op) -> dict:
    root = op.pipeline_spec.root
    return {
        "inputs.parameters": {
            name: (spec.parameter_type, spec.is_optional)
            for name, spec in root.input_definitions.parameters.items()
        },
        "inputs.artifacts": {
            name: (spec.artifact_type.schema_title, spec.is_optional)
            for name, spec in root.input_definitions.artifacts.items()
        },
        "outputs.parameters": {
            name: spec.parameter_type for name, spec in root.output_definitions.parameters.items()
        },
        "outputs.artifacts": {
            name: spec.artifact_type.schema_title
            for name, spec in root.output_definitions.artifacts.items()
        },
    }


def test_targets_offer_the_same_ops():
    assert VERTEX.op_names() == LOCAL.op_names()


@pytest.mark.parametrize("op_name", VERTEX.op_names())
def test_twin_interface_equals_vertex_op(op_name):
    vertex, local = _interface(getattr(VERTEX, op_name)), _interface(getattr(LOCAL, op_name))
    for part in vertex:
        assert local[part] == vertex[part], f"{op_name} {part} differ"


def test_twins_do_not_default_to_placeholders_kfp_local_cannot_resolve():
    for op_name in LOCAL.op_names():
        defaults = getattr(LOCAL, op_name).pipeline_spec.root.input_definitions.parameters
        for name, spec in defaults.items():
            value = spec.default_value.string_value
            assert "{{$" not in value, f"{op_name}.{name} defaults to {value}"


def test_unknown_op_names_the_ops():
    with pytest.raises(AttributeError, match="has no op 'Nope'.*CustomTrainingJobOp"):
        _ = LOCAL.Nope
