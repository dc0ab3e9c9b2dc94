"""Plain data types shared by tasks, engines, students, envs and agents."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator


@dataclass(frozen=True)
class Skill:
    """A node of a task's taxonomy. Leaves are the skills that get measured and generated."""

    name: str
    description: str = ""
    family: str = ""


@dataclass(frozen=True)
class SkillTree:
    """A two-or-more level taxonomy: ``children`` maps a node name to its child names.

    The root is ``root``; nodes without children are leaves. Leaves keep insertion order, which
    is the order of every per-skill vector in observations and actions.
    """

    root: str
    children: dict[str, tuple[str, ...]]
    nodes: dict[str, Skill]

    def __post_init__(self) -> None:
        if self.root not in self.nodes:
            raise ValueError(f"SkillTree root {self.root!r} is not among its nodes")
        for parent, kids in self.children.items():
            for name in (parent, *kids):
                if name not in self.nodes:
                    raise ValueError(f"SkillTree names node {name!r} but has no Skill for it")

    def children_of(self, name: str) -> tuple[str, ...]:
        return self.children.get(name, ())

    def is_leaf(self, name: str) -> bool:
        return not self.children.get(name)

    def walk(self) -> Iterator[str]:
        """Nodes in depth-first pre-order, the root first."""
        stack = [self.root]
        while stack:
            name = stack.pop()
            yield name
            stack.extend(reversed(self.children_of(name)))

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(n for n in self.walk() if self.is_leaf(n))

    def leaves_under(self, name: str) -> tuple[str, ...]:
        if self.is_leaf(name):
            return (name,)
        out: list[str] = []
        for kid in self.children_of(name):
            out.extend(self.leaves_under(kid))
        return tuple(out)

    @classmethod
    def from_families(cls, root: str, families: dict[str, list[Skill]]) -> "SkillTree":
        """Build root -> family -> leaf skills, the shape most tasks have."""
        names = [root, *families, *(s.name for skills in families.values() for s in skills)]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"skill name {name!r} appears twice in the tree")
        nodes: dict[str, Skill] = {root: Skill(root)}
        children: dict[str, tuple[str, ...]] = {root: tuple(families)}
        for family, skills in families.items():
            nodes[family] = Skill(family, family=family)
            children[family] = tuple(s.name for s in skills)
            for skill in skills:
                if skill.name in nodes:
                    raise ValueError(f"skill name {skill.name!r} appears twice in the tree")
                nodes[skill.name] = skill
        return cls(root=root, children=children, nodes=nodes)


@dataclass
class Example:
    """One training example: a question, its answer, the skill it exercises and where it came from.

    ``provenance`` records who wrote the question (``generator``, ``agent``, ``llm``) and with
    what settings (difficulty); ``verdict`` is filled in by the env: ``accepted`` or the reason
    it was rejected.
    """

    question: str
    answer: str
    skill: str
    provenance: dict = field(default_factory=dict)
    verdict: str = "unverified"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Example":
        return cls(**data)
