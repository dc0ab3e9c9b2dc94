"""The LLM client and agents against the scripted OpenAI-protocol server on 127.0.0.1.

1. Throughput: requests per second with 1, 4 and 16 requests in flight, against a server that
   takes a fixed latency per request, and the ratio to linear scaling (in-flight / latency).
2. Cache replay: an llm_open_ended episode, then the same episode again from the disk cache:
   the requests the second one makes (0 expected) and whether its steps are identical.
3. Size of each LLM agent's requests per step on the default (v1) Arithmetic envs: requests,
   prompt and completion characters, and words as the scripted server counts them (its
   stand-in for tokens: a real endpoint's tokenizer gives other numbers).

    python benchmarks/llm_client_speed.py [--latency 0.05] [--requests 256]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import tempfile
import time
import zlib

import gymnasium as gym

import datagym  # noqa: F401
from datagym.agents import make_agent
from datagym.llm import LLMClient
from datagym.llm.scripted_server import Reply, ScriptedServer
from datagym.runner import run_episode


def teacher(messages: list[dict]) -> str:
    """Scripted replies for the three agents: sums for problems, weights or a tree plan."""
    prompt = messages[-1]["content"]
    wanted = re.search(r"Write (\d+) new problems", prompt)
    if wanted:
        seed = zlib.crc32(prompt.encode())
        problems = [{"question": f"{(seed + 7 * i) % 90 + 10}+{(seed // 7 + 3 * i) % 90 + 10}"} for i in range(int(wanted.group(1)))]
        return json.dumps({"problems": problems})
    if '"expand"' in prompt:
        names = re.findall(r"^- (\S+) \(", prompt, re.MULTILINE)
        return json.dumps({"expand": names[:2], "allocation": {n: 1.0 for n in names}, "rationale": "cover the tree"})
    names = re.findall(r"^- (\w+) \(", prompt, re.MULTILINE)
    return json.dumps({"weights": {n: 1.0 + i % 3 for i, n in enumerate(names)}, "rationale": "weaker skills more"})


def _serve(latency: float, urls: "multiprocessing.Queue", stop: "multiprocessing.Event") -> None:
    with ScriptedServer(default=Reply("ok", delay=latency)) as server:
        urls.put(server.url)
        stop.wait()


def throughput(latency: float, requests: int) -> None:
    """Measured against a server in another process, so that the two do not share one GIL."""
    print(f"## throughput: {requests} requests, {latency * 1000:.0f} ms server latency each (server in its own process)")
    print("| in flight | requests/s | linear would be | ratio |")
    print("|---|---|---|---|")
    urls, stop = multiprocessing.Queue(), multiprocessing.Event()
    process = multiprocessing.Process(target=_serve, args=(latency, urls, stop), daemon=True)
    process.start()
    url = urls.get(timeout=30)
    try:
        for concurrency in (1, 4, 16):
            client = LLMClient(base_url=url, model="scripted", concurrency=concurrency)
            client.complete_many([[{"role": "user", "content": "warm"}]] * concurrency)  # connections open
            t0 = time.perf_counter()
            replies = client.complete_many([[{"role": "user", "content": f"q{i}"}] for i in range(requests)])
            seconds = time.perf_counter() - t0
            assert all(r.ok for r in replies)
            rate, linear = requests / seconds, concurrency / latency
            print(f"| {concurrency} | {rate:.1f} | {linear:.1f} | {rate / linear:.2f} |")
            client.close()
    finally:
        stop.set()
        process.join(timeout=10)


def episode(server: ScriptedServer, env_id: str, agent_name: str, cache: str, out: str, **env_options) -> tuple[dict, list]:
    env = gym.make(env_id, **env_options)
    options = {"base_url": server.url, "model": "scripted", "cache_dir": cache}
    agent = make_agent(agent_name, env, **options)
    summary = run_episode(env, agent, seed=0, out_dir=out, agent_options=options)
    steps = [json.loads(line) for line in open(f"{out}/steps.jsonl")]
    env.close()
    return summary, steps


def replay_and_sizes() -> None:
    two_steps = {"total_budget": 1536, "step_budget": 768}
    with ScriptedServer(default=Reply(teacher)) as server, tempfile.TemporaryDirectory() as tmp:
        first, steps = episode(server, "datagym/Arithmetic-OpenEnded-v1", "llm_open_ended", f"{tmp}/cache",
                               f"{tmp}/first", **two_steps)
        made = len(server.requests)
        again, replayed = episode(server, "datagym/Arithmetic-OpenEnded-v1", "llm_open_ended", f"{tmp}/cache",
                                  f"{tmp}/again", **two_steps)
        keep = lambda step: {k: v for k, v in step.items()  # noqa: E731
                             if not k.startswith("time/") and k not in ("teacher/llm_requests", "teacher/llm_cache_hits")}
        print("\n## cache replay: llm_open_ended, Arithmetic-OpenEnded-v1, 2 steps of 768")
        print(f"first run: {made} requests; the same seed again: {len(server.requests) - made} requests, "
              f"{again['teacher_llm']['cache_hits']} replies from the cache; steps identical: "
              f"{[keep(s) for s in replayed] == [keep(s) for s in steps]}; test accuracy {first['test_macro_accuracy']:.4f} "
              f"and {again['test_macro_accuracy']:.4f}")

        print("\n## request size per step (default v1 envs, 2 steps; words as the scripted server counts them)")
        print("| agent | env | requests/step | prompt chars/step | prompt words/step | completion words/step |")
        print("|---|---|---|---|---|---|")
        for env_id, agent_name in (("datagym/Arithmetic-OpenEnded-v1", "llm_open_ended"),
                                   ("datagym/Arithmetic-SkillList-v1", "llm_skill_list"),
                                   ("datagym/Arithmetic-SkillTree-v1", "llm_skill_tree")):
            start = len(server.requests)
            _, steps = episode(server, env_id, agent_name, f"{tmp}/sizes", f"{tmp}/{agent_name}", **two_steps)
            bodies = server.requests[start:]
            chars = sum(len(m["content"]) for r in bodies for m in r["body"]["messages"])
            n = len(steps)
            print(f"| {agent_name} | {env_id.split('/')[1]} | {len(bodies) / n:.1f} | {chars / n:.0f} | "
                  f"{sum(s['teacher/llm_prompt_tokens'] for s in steps) / n:.0f} | "
                  f"{sum(s['teacher/llm_completion_tokens'] for s in steps) / n:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server takes per request")
    parser.add_argument("--requests", type=int, default=256, help="requests per measurement")
    args = parser.parse_args()
    throughput(args.latency, args.requests)
    replay_and_sizes()


if __name__ == "__main__":
    main()
