"""Does the test-writing prompt get asserts from a real model? For each HumanEval
problem given, ask ``prompts.write_tests`` of the checkout at CHECKOUT at temperature 0
and count the answers with at least one usable assert (``extract_asserts``, calling the
entry point) and those that do not write the function at all.

usage: coderefl serve-local --port 8080 &
       python3 scripts/bench/test_prompt_probe.py CHECKOUT http://127.0.0.1:8080/v1 0,1,2,35 LABEL
"""
import json, sys, urllib.request
sys.path.insert(0, sys.argv[1])
from coderefl.problems.registry import load_benchmark
from coderefl.strategies import prompts
from coderefl.strategies.examples import visible_examples
from coderefl.code.extract import extract_asserts
base = sys.argv[2]; ids = sys.argv[3].split(",")
def ask(msgs):
    body = json.dumps({"model": "x", "messages": [{"role": m.role, "content": m.content} for m in msgs], "temperature": 0, "max_tokens": 512}).encode()
    req = urllib.request.Request(base + "/chat/completions", body, {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=600))["choices"][0]["message"]["content"]
tasks = {t.problem.task_id: t for t in load_benchmark("humaneval")}
ok = 0; starts = 0
for i in ids:
    p = tasks[f"HumanEval/{i}"].problem
    text = ask(prompts.write_tests(p, 6, visible_examples(p)))
    got = [a for a in extract_asserts(text, limit=12) if p.entry_point in a][:6]
    ok += bool(got); starts += f"def {p.entry_point}" not in text
    print(json.dumps({"task": p.task_id, "asserts": len(got), "wrote_the_function": f"def {p.entry_point}" in text, "first": got[:2]}), flush=True)
print(f"RESULT {sys.argv[4]}: {ok}/{len(ids)} answers with >=1 usable assert; {starts}/{len(ids)} without the function")
