"""Reading YAML into plain data while remembering the line of every key and list item."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from orchestrator.fleet.problems import FieldPath


@dataclass(slots=True)
class MarkedYaml:
    """A YAML document as plain data, the 1-based line of each field path, and shape problems."""

    data: object
    lines: dict[FieldPath, int] = field(default_factory=dict)
    # (path, line, message) for what YAML allows but a config must not have: duplicate keys.
    problems: list[tuple[FieldPath, int, str]] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor (a missing key has none)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def read_marked_yaml(text: str) -> MarkedYaml:
    """Parse one YAML document; raises ``yaml.MarkedYAMLError`` with the parser's line."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        marked = MarkedYaml(data=None)
        if root is not None:
            marked.data = _walk(loader, root, (), marked)
        return marked
    finally:
        loader.dispose()


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: FieldPath, marked: MarkedYaml) -> object:
    # A key's own line wins over its value's: a nested mapping starts a line lower.
    marked.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                marked.problems.append((path, key_line, f"key {key!r} is not text; keys are names"))
                continue
            child = (*path, key)
            if key in result:
                first = marked.lines[child]
                marked.problems.append(
                    (child, key_line, f"'{key}' appears twice (first on line {first}); keep one")
                )
                continue
            marked.lines[child] = key_line
            result[key] = _walk(loader, value_node, child, marked)
        return result
    if isinstance(node, yaml.SequenceNode):
        items: list[object] = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            marked.lines[child] = item_node.start_mark.line + 1
            items.append(_walk(loader, item_node, child, marked))
        return items
    return loader.construct_object(node, deep=True)
