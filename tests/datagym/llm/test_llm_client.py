"""The LLM client against a real HTTP server on 127.0.0.1 that speaks the OpenAI protocol from a
script: retries by reason, concurrency, the disk cache, token accounting and the budget, and
structured replies with one repair turn."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel

from datagym.errors import ConfigError
from datagym.llm import LLMClient, LLMSettings, complete_structured, extract_json
from datagym.llm.client import DUMMY_KEY
from datagym.llm.scripted_server import Drop, Reply, Slow, Status

ASK = [{"role": "system", "content": "You write data."}, {"role": "user", "content": "Write one problem."}]


def _client(server, **options) -> LLMClient:
    return LLMClient(base_url=server.url, model="scripted", backoff=0.01, **options)


def test_a_reply_and_its_tokens_are_counted_and_the_request_is_what_was_asked(scripted_server):
    s = scripted_server([Reply("two plus two")])
    client = _client(s, temperature=0.7, seed=3, max_tokens=50)
    reply = client.complete(ASK)
    assert reply.ok and reply.text == "two plus two" and not reply.cached
    assert (reply.prompt_tokens, reply.completion_tokens) == (6, 3)  # the server counts words
    body = s.requests[0]["body"]
    assert body["model"] == "scripted" and body["messages"] == ASK
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.7, 3, 50)
    assert client.usage.info() == {
        "teacher/llm_requests": 1, "teacher/llm_replies": 1, "teacher/llm_prompt_tokens": 6,
        "teacher/llm_completion_tokens": 3, "teacher/llm_cache_hits": 0, "teacher/llm_failures": {},
        "teacher/llm_budget_exhausted": False,
    }


@pytest.mark.parametrize("step, reason", [(Status(429), "rate_limited"), (Status(500), "server_error"),
                                          (Status(503), "server_error"), (Slow(1.5), "timeout"), (Drop(), "connection")])
def test_a_retryable_failure_is_retried_and_counted_by_its_reason(scripted_server, step, reason):
    s = scripted_server([step, Reply("fine")])
    client = _client(s, timeout=0.5)
    reply = client.complete(ASK)
    assert reply.text == "fine"
    assert client.usage.requests == 2 and client.usage.failures == {reason: 1}


def test_a_request_that_keeps_failing_gives_up_without_raising(scripted_server):
    s = scripted_server(default=Status(500))
    client = _client(s, max_retries=2)
    reply = client.complete(ASK)
    assert not reply.ok and reply.error == "server_error" and reply.text is None
    assert client.usage.requests == 3 and client.usage.failures == {"server_error": 3} and client.usage.replies == 0


def test_a_refused_request_is_not_retried(scripted_server):
    s = scripted_server([Status(400), Reply("never")])
    client = _client(s)
    assert client.complete(ASK).error == "client_error"
    assert len(s.requests) == 1 and client.usage.failures == {"client_error": 1}


def test_requests_run_concurrency_at_a_time(scripted_server):
    s = scripted_server(default=Reply("x", delay=0.2))
    client = _client(s, concurrency=4)
    replies = client.complete_many([ASK] * 12)
    assert [r.text for r in replies] == ["x"] * 12
    assert s.max_in_flight == 4
    one = scripted_server(default=Reply("x", delay=0.05))
    _client(one, concurrency=1).complete_many([ASK] * 4)
    assert one.max_in_flight == 1


def test_the_cache_replays_every_reply_with_no_request(scripted_server, tmp_path):
    s = scripted_server(default=Reply(lambda messages: f"answer to {messages[-1]['content']}"))
    asks = [[{"role": "user", "content": f"problem {i}"}] for i in range(5)]
    first = _client(s, cache_dir=str(tmp_path), concurrency=2)
    replies = first.complete_many(asks) + [first.complete(asks[0], sample=1)]
    assert len(s.requests) == 6  # sample 1 of the same prompt is another call
    again = _client(s, cache_dir=str(tmp_path), concurrency=2)
    replayed = again.complete_many(asks) + [again.complete(asks[0], sample=1)]
    assert len(s.requests) == 6 and again.usage.requests == 0 and again.usage.cache_hits == 6
    assert [r.text for r in replayed] == [r.text for r in replies] and all(r.cached for r in replayed)
    assert again.usage.tokens == first.usage.tokens  # cached replies carry their tokens
    other_model = LLMClient(base_url=s.url, model="another", cache_dir=str(tmp_path))
    other_model.complete(asks[0])
    assert len(s.requests) == 7  # the model is part of the key
    assert not list(tmp_path.rglob("*.tmp"))


def test_failures_are_not_cached(scripted_server, tmp_path):
    s = scripted_server([Status(400), Reply("good")])
    client = _client(s, cache_dir=str(tmp_path))
    assert client.complete(ASK).error == "client_error"
    assert client.complete(ASK).text == "good" and len(s.requests) == 2


def test_the_token_budget_stops_requests_and_is_recorded(scripted_server):
    s = scripted_server(default=Reply("one two three four"))  # 6 prompt + 4 completion tokens a call
    client = _client(s, token_budget=25)
    replies = [client.complete(ASK, sample=i) for i in range(5)]
    assert [r.ok for r in replies] == [True, True, True, False, False]
    assert len(s.requests) == 3 and client.usage.budget_exhausted
    assert client.usage.failures == {"token_budget": 2} and replies[3].error == "token_budget"


def test_the_key_comes_from_the_named_variable_or_is_a_dummy(scripted_server, monkeypatch):
    s = scripted_server()
    monkeypatch.delenv("DATAGYM_TEST_KEY", raising=False)
    _client(s, api_key_env="DATAGYM_TEST_KEY").complete(ASK)
    monkeypatch.setenv("DATAGYM_TEST_KEY", "sk-secret")
    _client(s, api_key_env="DATAGYM_TEST_KEY").complete(ASK)
    keys = [r["headers"].get("Authorization") or r["headers"].get("authorization") for r in s.requests]
    assert keys == [f"Bearer {DUMMY_KEY}", "Bearer sk-secret"]


def test_usage_since_gives_one_steps_share_and_the_client_pickles(scripted_server):
    s = scripted_server([Status(429)], default=Reply("a b"))
    client = _client(s)
    client.complete(ASK)
    before = client.usage.copy()
    client.complete(ASK, sample=1)
    step = client.usage.since(before)
    assert (step.requests, step.replies, step.completion_tokens, dict(step.failures)) == (1, 1, 2, {})
    copy = pickle.loads(pickle.dumps(client))
    assert copy.usage == client.usage and copy.settings == client.settings
    assert copy.complete(ASK, sample=2).text == "a b"


class Problem(BaseModel):
    question: str
    answer: str


class Problems(BaseModel):
    problems: list[Problem]


def test_structured_replies_are_read_from_prose_and_fences():
    assert extract_json('Sure! ```json\n{"a": 1}\n``` done') == {"a": 1}
    assert extract_json('Here: {"a": [1, 2]} and more text') == {"a": [1, 2]}
    assert extract_json("[1, 2]") == [1, 2]
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("no json here")


def test_an_invalid_reply_gets_one_repair_turn(scripted_server):
    good = '{"problems": [{"question": "2+2", "answer": "4"}]}'
    s = scripted_server([Reply("I think {\"problems\": [{\"question\": 3}]}"), Reply(good)])
    client = _client(s)
    value, replies = complete_structured(client, ASK, Problems)
    assert value == Problems(problems=[Problem(question="2+2", answer="4")]) and len(replies) == 2
    repair = s.requests[1]["body"]["messages"]
    assert repair[:2] == ASK and repair[2]["role"] == "assistant" and "could not be used" in repair[3]["content"]
    assert "problems.0.question" in repair[3]["content"] and client.usage.failures == {}


def test_a_second_invalid_reply_is_counted_and_gives_none(scripted_server):
    s = scripted_server(default=Reply("not json at all"))
    client = _client(s)
    value, replies = complete_structured(client, ASK, Problems)
    assert value is None and len(replies) == 2 and client.usage.failures == {"invalid_json": 1}
    down = scripted_server(default=Status(500))
    client = _client(down, max_retries=0)
    assert complete_structured(client, ASK, Problems)[0] is None
    assert client.usage.failures == {"server_error": 1}  # no repair turn for a reply that never came


def test_settings_are_checked_with_clear_errors():
    with pytest.raises(ConfigError, match="Expected model to name the model"):
        LLMSettings(model="")
    with pytest.raises(ConfigError, match="base_url to be an http"):
        LLMSettings(base_url="localhost:8000", model="m")
    with pytest.raises(ConfigError, match=r"Unknown LLM option\(s\) \['temprature'\]"):
        LLMClient(model="m", temprature=0.5)
    with pytest.raises(ConfigError, match="token_budget"):
        LLMSettings(model="m", token_budget=0)
    with pytest.raises(ConfigError, match="concurrency"):
        LLMSettings(model="m", concurrency=0)

