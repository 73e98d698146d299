"""A created stack as moto's CloudFormation describes it."""

from typing import Any

from moto_stack.aws import Aws, StackError


class Stack:
    """The stack's template (GetTemplate), created resources (DescribeStackResources),
    parameters and outputs (DescribeStacks)."""

    def __init__(self, aws: Aws, name: str):
        cloudformation = aws.client("cloudformation")
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        self.name = name
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        self.template: dict[str, Any] = cloudformation.get_template(StackName=name)["TemplateBody"]
        resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
        # moto lists each resource a false Condition skipped as an empty entry, and has no
        # physical id for some types (AWS::Lambda::Permission).
        self._resources = [
            (r["ResourceType"], r["LogicalResourceId"], r.get("PhysicalResourceId", ""))
            for r in resources
            if "LogicalResourceId" in r
        ]
        self._refs = {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])}
        self._refs.update({logical: physical for _, logical, physical in self._resources})

    def resources(self, cfn_type: str) -> list[tuple[str, str]]:
        """(logical id, physical id) of each created resource of a type, by logical id."""
        return sorted((logical, physical)
                      for type_, logical, physical in self._resources if type_ == cfn_type)

    def declared(self, logical_id: str) -> dict[str, Any]:
        """A resource as the template declares it (intrinsics unresolved)."""
        return self.template["Resources"][logical_id]  # type: ignore[no-any-return]

    def resolve(self, value: Any, context: str) -> Any:
        """`value` with each Ref to a parameter or resource replaced by the parameter's value
        or the resource's physical id. Other intrinsics are not needed (and fail)."""
        if isinstance(value, list):
            return [self.resolve(item, context) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            if value["Ref"] not in self._refs:
                raise StackError(f"{context}: cannot resolve Ref {value['Ref']}")
            return self._refs[value["Ref"]]
        intrinsics = [key for key in value if key.startswith("Fn::")]
        if intrinsics:
            raise StackError(f"{context}: moto_stack resolves only Ref here, not {intrinsics}")
        return {key: self.resolve(item, context) for key, item in value.items()}
