"""The one CloudFormation YAML loader of the Python checks (check_operations.py, rehearsal_check.py).

Short-form tags become their long form, as CloudFormation reads them and as the Rust reader
(crates/cfn-template) does: `!Sub x` -> {"Fn::Sub": x}, `!Ref x` -> {"Ref": x},
`!GetAtt a.b` -> {"Fn::GetAtt": ["a", "b"]}
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html).
deploy_helper.py keeps its stdlib-only parameter scan: it must run on a deploy machine without PyYAML.
"""
import pathlib

import yaml


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags as their long form."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load(path: pathlib.Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
