"""YAML loading with bounds: a config document cannot blow up in size, depth or cycles.

``yaml.safe_load`` builds nothing dangerous, but a few lines of aliases (``&a [*b, *b, ...]``
nested a few times, the "billion laughs") describe a document of billions of values: the
loader builds it cheaply out of shared pieces, and then validation and error messages walk
every one of them until memory runs out. A document that refers to itself (``&a [*a]``) never
ends, deep nesting overflows the parser's recursion, and an integer of thousands of digits
is refused by Python's conversion limit. :func:`load_yaml` looks at the
composed node graph first and refuses all three with :class:`YamlTooComplex`, a
``yaml.YAMLError``, so every caller's existing handling of bad YAML applies.
"""

from __future__ import annotations

from typing import Any

import yaml

#: More values than any real config holds (policy lists included), far fewer than a blow-up.
MAX_NODES = 100_000
#: Nesting deeper than this is not a config.
MAX_DEPTH = 64


class YamlTooComplex(yaml.YAMLError):
    """A document refused for its shape; ``problem`` says why (as PyYAML's errors do)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_node(root: yaml.Node, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Raise YamlTooComplex when the document ``root`` expands beyond the bounds.

    Sizes are counted as the expanded document would have them (an alias counts its anchor's
    whole size again), memoised per node, so the check itself stays linear in the text.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > max_nodes:
                raise YamlTooComplex(
                    f"the document expands to more than {max_nodes} values (YAML aliases?)"
                )
            if depth[key] > max_depth:
                raise YamlTooComplex(f"the document nests deeper than {max_depth} levels")
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlTooComplex("the document refers to itself through an alias")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def compose_yaml(text: str) -> yaml.Node | None:
    """The checked node graph of ``text`` (None for an empty document)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise YamlTooComplex(f"the document nests deeper than {MAX_DEPTH} levels") from None
    if root is not None:
        check_node(root)
    return root


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing documents too large, too deep or self-referring."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise YamlTooComplex(f"the document nests deeper than {MAX_DEPTH} levels") from None
        if root is None:
            return None
        check_node(root)
        try:
            return loader.construct_document(root)
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise YamlTooComplex(f"a value cannot be read: {exc}") from None
    finally:
        loader.dispose()
