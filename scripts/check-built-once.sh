#!/usr/bin/env bash
# Checks that a first `cargo xtask up` followed by `cargo xtask test` compiles every dependency
# once: the dependency units that building xtask (the `cargo xtask` alias) and `up`'s build of the
# services need must all be units the test build needs too, so the test build reuses them.
# Cargo compiles a crate again when the features it resolves for it (or for anything below it)
# differ between builds; xtask/Cargo.toml ("Built once") and `up`'s build command keep them equal.
#
# Compares cargo's unit graphs (nothing is compiled; a few seconds). `--unit-graph` is unstable:
# RUSTC_BOOTSTRAP=1 lets this cargo, the one that builds, print it (a nightly cargo might resolve
# differently). Prints how many units each build compiles after the ones before it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
graph() { RUSTC_BOOTSTRAP=1 cargo "$@" --unit-graph -Z unstable-options; }
# The same commands as the alias (.cargo/config.toml), `up` (xtask/src/up.rs, `build_command`)
# and `test` (xtask/src/test.rs).
graph build --package xtask >"$out/xtask.json"
graph build --workspace --examples --bin xtask --bin dev-idp --bin orders --bin inventory \
  --bin gateway >"$out/up.json"
graph test --workspace --all-targets --no-run >"$out/test.json"
python3 - "$out" <<'PY'
import hashlib, json, sys

def units(path):
    """Each unit under an identity that, like cargo's metadata hash, covers its package, target,
    mode, features and profile settings and the identities of everything it depends on."""
    graph = json.load(open(path))["units"]
    memo = {}
    def ident(i):
        if i not in memo:
            u = graph[i]
            profile = {k: v for k, v in u["profile"].items() if k != "name"}
            key = [u["pkg_id"], u["target"]["name"], u["mode"], u["target"]["kind"],
                   sorted(u["features"]), profile,
                   sorted(ident(d["index"]) for d in u["dependencies"])]
            memo[i] = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return memo[i]
    return {ident(i): u for i, u in enumerate(graph)}

def is_dependency(u):
    return not u["pkg_id"].startswith("path+")

out = sys.argv[1]
builds = [(name, units(f"{out}/{name}.json")) for name in ("xtask", "up", "test")]
done = {}
for name, new in builds:
    todo = {k: u for k, u in new.items() if k not in done}
    deps = sum(map(is_dependency, todo.values()))
    print(f"{name:>5}: {len(new)} units; compiles {len(todo)} after the builds above ({deps} of them dependencies)")
    done.update(new)
test = builds[2][1]
again = sorted({u["pkg_id"].split("#")[-1] for name, new in builds[:2]
                for k, u in new.items() if is_dependency(u) and k not in test})
if again:
    print("compiled again by the test build (features differ):", ", ".join(again))
    sys.exit(1)
print("every dependency that xtask and up compile is reused by the test build")
PY
