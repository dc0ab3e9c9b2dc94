"""Skill, SkillTree and Example: the plain data types everything else shares."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from datagym.types import Example, Skill, SkillTree


@pytest.fixture
def tree() -> SkillTree:
    return SkillTree.from_families(
        "math",
        {
            "addition": [Skill("add_small", "a+b", "addition"), Skill("add_big", "", "addition")],
            "comparison": [Skill("compare", "a?b", "comparison")],
            "division": [Skill("div", family="division"), Skill("mod", family="division")],
        },
    )


def test_from_families_builds_root_family_leaf(tree):
    assert tree.root == "math"
    assert tree.children_of("math") == ("addition", "comparison", "division")
    assert tree.children_of("addition") == ("add_small", "add_big")
    assert tree.nodes["add_small"].description == "a+b"
    assert tree.nodes["division"].family == "division"


def test_leaves_keep_insertion_order(tree):
    assert tree.leaves == ("add_small", "add_big", "compare", "div", "mod")


def test_walk_is_depth_first_preorder_root_first(tree):
    assert list(tree.walk()) == [
        "math", "addition", "add_small", "add_big", "comparison", "compare", "division", "div", "mod",
    ]


def test_leaves_under_and_is_leaf(tree):
    assert tree.leaves_under("math") == tree.leaves
    assert tree.leaves_under("division") == ("div", "mod")
    assert tree.leaves_under("compare") == ("compare",)
    assert tree.is_leaf("mod") and not tree.is_leaf("division") and not tree.is_leaf("math")
    assert tree.children_of("mod") == ()
    assert tree.children_of("not_a_node") == ()


def test_deeper_trees_are_walked_in_order():
    nodes = {name: Skill(name) for name in ("r", "a", "a1", "a1x", "a1y", "a2", "b")}
    tree = SkillTree(root="r", children={"r": ("a", "b"), "a": ("a1", "a2"), "a1": ("a1x", "a1y")}, nodes=nodes)
    assert list(tree.walk()) == ["r", "a", "a1", "a1x", "a1y", "a2", "b"]
    assert tree.leaves == ("a1x", "a1y", "a2", "b")
    assert tree.leaves_under("a") == ("a1x", "a1y", "a2")


def test_root_must_be_a_node():
    with pytest.raises(ValueError, match=re.escape("SkillTree root 'r' is not among its nodes")):
        SkillTree(root="r", children={}, nodes={"a": Skill("a")})


def test_every_named_node_needs_a_skill():
    with pytest.raises(ValueError, match=re.escape("SkillTree names node 'ghost' but has no Skill for it")):
        SkillTree(root="r", children={"r": ("a", "ghost")}, nodes={"r": Skill("r"), "a": Skill("a")})
    with pytest.raises(ValueError, match=re.escape("SkillTree names node 'p' but has no Skill for it")):
        SkillTree(root="r", children={"p": ("a",)}, nodes={"r": Skill("r"), "a": Skill("a")})


def test_from_families_refuses_a_skill_named_twice():
    with pytest.raises(ValueError, match=re.escape("skill name 'x' appears twice in the tree")):
        SkillTree.from_families("r", {"f": [Skill("x")], "g": [Skill("x")]})
    with pytest.raises(ValueError, match=re.escape("skill name 'f' appears twice in the tree")):
        SkillTree.from_families("r", {"f": [Skill("f")]})


@pytest.mark.parametrize(
    "root, families",
    [
        # a skill of one family named like a later family: the skill silently becomes that family
        ("r", {"a": [Skill("b")], "b": [Skill("c")]}),
        # a family named like the root: the root's children are silently replaced
        ("r", {"r": [Skill("y")]}),
        # a skill named like the root
        ("r", {"f": [Skill("r")]}),
    ],
    ids=["skill_named_like_a_later_family", "family_named_like_the_root", "skill_named_like_the_root"],
)
def test_from_families_refuses_any_name_used_twice(root, families):
    with pytest.raises(ValueError, match="appears twice"):
        SkillTree.from_families(root, families)


def test_skill_and_tree_are_frozen(tree):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.nodes["mod"].name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.root = "other"  # type: ignore[misc]
    assert hash(Skill("a", "b", "c")) == hash(Skill("a", "b", "c"))


def test_example_json_round_trip():
    ex = Example("27+58", "85", "add_carry", {"source": "generator", "difficulty": 0.5}, "accepted")
    data = json.loads(json.dumps(ex.to_json()))
    assert data == {
        "question": "27+58",
        "answer": "85",
        "skill": "add_carry",
        "provenance": {"source": "generator", "difficulty": 0.5},
        "verdict": "accepted",
    }
    assert Example.from_json(data) == ex


def test_example_defaults_are_unverified_and_not_shared():
    a, b = Example("1+1", "2", "add"), Example("1+2", "3", "add")
    assert a.verdict == "unverified"
    a.provenance["source"] = "agent"
    assert b.provenance == {}


def test_example_from_json_refuses_unknown_fields():
    with pytest.raises(TypeError):
        Example.from_json({"question": "1+1", "answer": "2", "skill": "add", "bogus": 1})
