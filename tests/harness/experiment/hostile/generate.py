"""Write the hostile corpus: experiment files that are malicious, broken or absurd.

Run ``python tests/harness/experiment/hostile/generate.py`` after changing it; a test
checks that the files here are exactly what it writes.

Each file must make ``paychaos validate`` answer quickly with exit 0 or 2, never 1 or a
traceback. Files named ``ok-*.yaml`` are odd but valid (exit 0); every other one is
refused with a located message (exit 2). Files under ``targets/`` are hostile target
descriptions, named by the experiments ``target-file-*.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAYSTACK = "../../../../targets/paystack"  # the shipped target, relative to this folder

HEAD = f"name: hostile\ntarget: {{path: {PAYSTACK}}}\n"
LOAD = "load: {users: 2, duration: 10s}\n"
FAULT = "  - {at: 2s, duration: 3s, link: gateway_bank, toxic: latency, latency: 100ms}\n"
BASE = HEAD + LOAD + "faults:\n" + FAULT


def _bomb(levels: int = 9, width: int = 9, *, key: str = "a") -> str:
    """A "billion laughs": each level an anchored list of ``width`` aliases of the one before."""
    lines = [f"{key}0: &{key}0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"{key}{i}: &{key}{i} [{', '.join([f'*{key}{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _bomb_flow(levels: int = 9, width: int = 9) -> str:
    """The same bomb as one flow list, to hide inside any value."""
    items = [f"&b0 [{', '.join(['lol'] * width)}]"]
    items += [f"&b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def _nest(depth: int, opening: str, closing: str, leaf: str = "1") -> str:
    return opening * depth + leaf + closing * depth


def _block_map(depth: int) -> str:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + f"{'  ' * depth}leaf\n"


def _block_seq(depth: int) -> str:
    return "".join(f"{'  ' * i}-\n" for i in range(depth)) + f"{'  ' * depth}leaf\n"


def _with(**sections: str) -> str:
    """BASE with some top-level sections replaced or added (values are YAML text)."""
    parts = {"name": "hostile", "target": f"{{path: {PAYSTACK}}}", "load": "{users: 2, duration: 10s}",
             "faults": "\n" + FAULT.rstrip("\n")}  # fmt: skip
    parts.update(sections)
    return "".join(f"{key}: {value}\n" for key, value in parts.items())


def _fault(**attrs: str) -> str:
    fault = {"at": "2s", "duration": "3s", "link": "gateway_bank", "toxic": "latency", "latency": "100ms"}
    fault.update(attrs)
    return "\n  - {" + ", ".join(f"{k}: {v}" for k, v in fault.items()) + "}"


def _yaml_structure() -> dict[str, str | bytes]:
    chain = "".join(f"c{i}: &c{i} [*c{i - 1}]\n" for i in range(1, 70))
    return {
        "yaml-alias-bomb.yaml": HEAD + _bomb(),
        "yaml-alias-bomb-wide.yaml": HEAD + _bomb(levels=4, width=200),
        "yaml-alias-bomb-mappings.yaml": HEAD
        + "m0: &m0 {a: lol, b: lol, c: lol, d: lol, e: lol, f: lol, g: lol, h: lol}\n"
        + "".join(
            f"m{i}: &m{i} {{a: *m{i - 1}, b: *m{i - 1}, c: *m{i - 1}, d: *m{i - 1}, e: *m{i - 1}, "
            f"f: *m{i - 1}, g: *m{i - 1}, h: *m{i - 1}}}\n"
            for i in range(1, 9)
        ),
        "yaml-alias-bomb-in-faults.yaml": _with(faults=_fault(label=_bomb_flow())),
        "yaml-alias-bomb-in-config.yaml": BASE
        + "  - {at: 1s, config: promotion, set: {percent: "
        + _bomb_flow()
        + "}}\n",
        "yaml-alias-bomb-merge.yaml": HEAD
        + "base: &b {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n"
        + "".join(
            f"m{i}: &m{i} {{<<: [*b], x{i}: [*{'b' if i == 0 else f'm{i - 1}'}] }}\n" for i in range(60)
        ),
        "yaml-alias-depth-chain.yaml": HEAD + "c0: &c0 [x]\n" + chain,
        "yaml-alias-recursive-list.yaml": HEAD + "loop: &a [1, *a]\n",
        "yaml-alias-recursive-map.yaml": HEAD + "loop: &a {next: *a}\n",
        "yaml-alias-recursive-fault.yaml": HEAD + LOAD + "faults: &f\n  - {at: 1s, link: *f, toxic: down}\n",
        "yaml-alias-undefined.yaml": HEAD + "description: *nowhere\n",
        "yaml-anchor-twice.yaml": HEAD + "a: &x 1\nb: &x 2\n",
        "ok-yaml-alias-to-a-scalar.yaml": BASE.replace("name: hostile", "name: &n hostile")
        + "description: *n\n",
        "ok-yaml-alias-reused-fault.yaml": HEAD + LOAD + "faults:\n  - &f {at: 2s, link: gateway_bank, "
        "toxic: latency, latency: 100ms}\n  - *f\n  - *f\n",
        "yaml-deep-flow-list-100.yaml": BASE + "description: " + _nest(100, "[", "]") + "\n",
        "yaml-deep-flow-list-5000.yaml": BASE + "description: " + _nest(5000, "[", "]") + "\n",
        "yaml-deep-flow-map.yaml": BASE + "description: " + _nest(200, "{a: ", "}") + "\n",
        "yaml-deep-block-map.yaml": BASE
        + "description:\n"
        + "\n".join("  " + line for line in _block_map(100).splitlines())
        + "\n",
        "yaml-deep-block-list.yaml": BASE
        + "description:\n"
        + "\n".join("  " + line for line in _block_seq(100).splitlines())
        + "\n",
        "yaml-deep-in-config-set.yaml": BASE
        + "  - {at: 1s, config: promotion, set: {percent: "
        + _nest(80, "{a: ", "}")
        + "}}\n",
        "ok-yaml-deep-config-set-40.yaml": BASE
        + "  - {at: 1s, config: promotion, set: {percent: "
        + _nest(40, "{a: ", "}")
        + "}}\n",
        "yaml-complex-key-list.yaml": BASE + "? [a, b]\n: 1\n",
        "yaml-complex-key-map.yaml": BASE + "? {a: 1}\n: 2\n",
        "yaml-complex-key-in-load.yaml": HEAD + "load: {users: 2, duration: 10s, [a]: 1}\n",
        "yaml-complex-key-in-fault.yaml": HEAD
        + LOAD
        + "faults:\n  - {at: 2s, link: gateway_bank, toxic: down, "
        "? {x: y} : z}\n",
        "yaml-complex-key-alias.yaml": HEAD + "l: &l [1, 2]\n*l : 3\n",
        "yaml-complex-key-bomb.yaml": HEAD + _bomb(levels=3) + "? *a2\n: boom\n",
        "yaml-duplicate-key.yaml": BASE + "name: again\n",
        "yaml-duplicate-key-in-fault.yaml": HEAD + LOAD + "faults:\n  - {at: 1s, at: 2s, link: gateway_bank, "
        "toxic: down}\n",
        "yaml-duplicate-int-and-bool.yaml": BASE + "seed: 1\nexclude: {1: a b, true: c d}\n",
        "yaml-merge-key.yaml": HEAD + "defaults: &d {users: 2}\nload: {<<: *d, duration: 10s}\n",
        "yaml-tag-python-object.yaml": BASE + "description: !!python/object/apply:os.system ['echo pwned']\n",
        "yaml-tag-python-name.yaml": BASE + "description: !!python/name:os.system ''\n",
        "yaml-tag-local.yaml": BASE + "description: !evil payload\n",
        "yaml-tag-verbatim.yaml": BASE + "description: !<tag:evil.example,2024:x> payload\n",
        "yaml-tag-timestamp-bad.yaml": BASE + "description: !!timestamp yesterday\n",
        "yaml-tag-int-bad.yaml": BASE + "seed: !!int abc\n",
        "yaml-tag-float-bad.yaml": BASE + "seed: !!float abc\n",
        "yaml-tag-bool-bad.yaml": BASE + "seed: !!bool maybe\n",
        "ok-yaml-tag-binary-odd.yaml": BASE + "description: !!binary '%%%%'\n",
        "yaml-tag-set-load.yaml": HEAD + "load: !!set {users, duration}\n",
        "yaml-tag-omap-bad.yaml": HEAD + "load: !!omap [1, 2]\n",
        "yaml-tag-pairs-faults.yaml": HEAD + LOAD + "faults: !!pairs [{at: 1s}]\n",
        "yaml-date-impossible.yaml": BASE + "description: 2024-02-30\n",
        "yaml-date-as-name.yaml": BASE.replace("name: hostile", "name: 2024-01-01"),
        "yaml-int-5000-digits.yaml": BASE + "seed: " + "7" * 5000 + "\n",
        "ok-yaml-int-4000-digits.yaml": BASE + "seed: " + "7" * 4000 + "\n",
        "yaml-float-overflow-seed.yaml": BASE + "seed: 1.0e+400\n",
        "yaml-nan-seed.yaml": BASE + "seed: .nan\n",
        "ok-yaml-hex-users.yaml": BASE.replace("users: 2", "users: 0x2"),
        "ok-yaml-sexagesimal-users.yaml": BASE.replace("users: 2", "users: 1:20"),
        "yaml-two-documents.yaml": BASE + "---\n" + BASE,
        "yaml-document-end-only.yaml": "...\n",
        "yaml-directive-yaml-2.yaml": "%YAML 2.0\n---\n" + BASE,
        "yaml-directive-tag-bad.yaml": "%TAG !\n---\n" + BASE,
        "yaml-empty.yaml": "",
        "yaml-whitespace-only.yaml": "   \n\n\t\n",
        "yaml-comments-only.yaml": "# nothing\n# here\n",
        "yaml-dashes-only.yaml": "---\n",
        "yaml-null-top.yaml": "~\n",
        "yaml-scalar-top.yaml": "hello\n",
        "yaml-list-top.yaml": "- name: hostile\n",
        "yaml-bool-top.yaml": "true\n",
        "yaml-int-top.yaml": "42\n",
        "ok-yaml-bom.yaml": "\ufeff" + BASE,
        "yaml-utf16.yaml": BASE.encode("utf-16"),
        "yaml-invalid-utf8.yaml": BASE.encode() + b"description: \xff\xfe\xfa\n",
        "yaml-latin1.yaml": BASE.encode() + "description: café\n".encode("latin-1"),
        "yaml-nul-byte.yaml": BASE + "description: a\x00b\n",
        "yaml-control-char.yaml": BASE + "description: bell\x07\n",
        "yaml-escape-nul.yaml": BASE.replace("name: hostile", 'name: "hos\\0tile"'),
        "yaml-tab-indent.yaml": HEAD + "load:\n\tusers: 2\n",
        "yaml-unclosed-flow.yaml": HEAD + "load: {users: 2, duration: [10s\n",
        "yaml-unclosed-quote.yaml": HEAD + 'description: "never ends\n',
        "yaml-bad-escape.yaml": HEAD + 'description: "\\q"\n',
        "yaml-bad-block-indent.yaml": HEAD + "description: |\n    text\n  less\n",
        "ok-yaml-long-description.yaml": BASE + "description: " + "word " * 8_000 + "\n",
        "yaml-long-key.yaml": BASE + "k" * 10_000 + ": 1\n",
        "yaml-zero-width-key.yaml": BASE.replace("name: hostile", "na\u200bme: hostile"),
        "yaml-int-key.yaml": BASE + "1: 2\n",
        "yaml-null-key.yaml": BASE + "~: x\n",
        "ok-yaml-windows-newlines.yaml": BASE.replace("\n", "\r\n"),
        "ok-yaml-old-mac-newlines.yaml": BASE.replace("\n", "\r"),
    }


def _model() -> dict[str, str | bytes]:
    return {
        "name-300-characters.yaml": _with(name="n" * 300),
        "name-81-characters.yaml": _with(name="n" * 81),
        "ok-name-80-characters.yaml": _with(name="n" * 80),
        "name-path-traversal.yaml": _with(name="../../etc/cron.d/x"),
        "name-slash.yaml": _with(name="a/b"),
        "name-dot.yaml": _with(name="'.'"),
        "name-empty.yaml": _with(name="''"),
        "name-null.yaml": _with(name="~"),
        "name-list.yaml": _with(name="[a, b]"),
        "name-int.yaml": _with(name="123"),
        "name-uppercase.yaml": _with(name="Hostile"),
        "name-unicode.yaml": _with(name="hóstile"),
        "name-newline.yaml": _with(name='"a\\nb"'),
        "name-nul.yaml": _with(name='"a\\0b"'),
        "target-string.yaml": _with(target=PAYSTACK),
        "target-list.yaml": _with(target=f"[{PAYSTACK}]"),
        "target-null.yaml": _with(target="~"),
        "target-int.yaml": _with(target="7"),
        "target-missing.yaml": "name: hostile\n" + LOAD,
        "target-path-root.yaml": _with(target="{path: /}"),
        "target-path-empty.yaml": _with(target="{path: ''}"),
        "target-path-nul.yaml": _with(target='{path: "a\\0b"}'),
        "target-path-dev-null.yaml": _with(target="{path: /dev/null}"),
        "target-path-dev-zero.yaml": _with(target="{path: /dev/zero}"),
        "target-path-proc-self.yaml": _with(target="{path: /proc/self}"),
        "target-path-this-folder.yaml": _with(target="{path: .}"),
        "target-path-itself.yaml": _with(target="{path: target-path-itself.yaml}"),
        "target-path-python-file.yaml": _with(target="{path: generate.py}"),
        "target-path-long-name.yaml": _with(target="{path: " + "a" * 300 + "}"),
        "target-path-5000-characters.yaml": _with(target="{path: " + "a/" * 2500 + "}"),
        "target-path-many-dotdots.yaml": _with(target="{path: " + "../" * 200 + "}"),
        "target-path-absent.yaml": _with(target="{path: no/such/target}"),
        "target-defects-unknown.yaml": _with(
            target=f"{{path: {PAYSTACK}, defects: [" + ", ".join(f"d{i}" for i in range(500)) + "]}"
        ),
        "target-args-nul.yaml": _with(target=f'{{path: {PAYSTACK}, args: {{gateway: ["a\\0b"]}}}}'),
        "target-args-not-a-list.yaml": _with(target=f"{{path: {PAYSTACK}, args: {{gateway: --x}}}}"),
        "target-args-unknown-service.yaml": _with(target=f"{{path: {PAYSTACK}, args: {{nobody: [x]}}}}"),
        "report-out-nul.yaml": _with(report='{out: "a\\0b"}'),
        "report-out-empty.yaml": _with(report="{out: ''}"),
        "report-out-5000-characters.yaml": _with(report="{out: " + "o" * 5000 + "}"),
        "ok-report-out-proc.yaml": _with(report="{out: /proc}"),
        "load-not-a-mapping.yaml": _with(load="fast"),
        "load-users-huge.yaml": _with(load="{users: 1000000000000000000000000000000, duration: 10s}"),
        "load-users-negative.yaml": _with(load="{users: -1, duration: 10s}"),
        "load-users-fraction.yaml": _with(load="{users: 1.5, duration: 10s}"),
        "load-users-inf.yaml": _with(load="{users: .inf, duration: 10s}"),
        "load-spawn-rate-inf.yaml": _with(load="{users: 2, duration: 10s, spawn_rate: .inf}"),
        "load-spawn-rate-nan.yaml": _with(load="{users: 2, duration: 10s, spawn_rate: .nan}"),
        "load-processes-huge.yaml": _with(load="{users: 2, duration: 10s, processes: 100000}"),
        "load-processes-zero.yaml": _with(load="{users: 2, duration: 10s, processes: 0}"),
        "load-workers-huge.yaml": _with(load="{users: 2, duration: 10s, workers: 1000000000}"),
        "load-processes-and-workers.yaml": _with(load="{users: 2, duration: 10s, processes: 2, workers: 2}"),
        "load-master-bind-bad.yaml": _with(load="{users: 2, duration: 10s, master_bind: nowhere}"),
        "load-master-bind-port-too-big.yaml": _with(load="{users: 2, duration: 10s, master_bind: 'h:99999'}"),
        "load-spike-multiple-inf.yaml": _with(
            load="{users: 2, duration: 10s, shape: {type: spike, at: 1s, multiple: .inf, for: 1s}}"
        ),
        "load-spike-peak-too-high.yaml": _with(
            load="{users: 1000, duration: 10s, shape: {type: spike, at: 1s, multiple: 1000, for: 1s}}"
        ),
        "load-stages-empty.yaml": _with(load="{users: 2, shape: {type: stages, stages: []}}"),
        "ok-load-stages-300.yaml": _with(
            load="{users: 2, shape: {type: stages, stages: ["
            + ", ".join(["{duration: 1s, users: 2}"] * 300)
            + "]}}"
        ),
        "faults-a-mapping.yaml": _with(faults="{at: 1s}"),
        "faults-of-ints.yaml": _with(faults="[1, 2, 3]"),
        "faults-null-items.yaml": _with(faults="[~, ~]"),
        "faults-every-place.yaml": _with(
            faults="[{at: 1s, link: gateway_bank, service: bank, container: x, "
            "config: promotion, toxic: down, action: kill}]"
        ),
        "faults-toxicity-nan.yaml": _with(faults=_fault(toxicity=".nan")),
        "faults-toxicity-two.yaml": _with(faults=_fault(toxicity="2")),
        "faults-rate-huge.yaml": _with(faults=_fault(toxic="bandwidth", latency="~", rate="10" * 20)),
        "faults-bytes-negative.yaml": _with(faults=_fault(toxic="limit_data", latency="~", bytes="-1")),
        "faults-too-many-values.yaml": _with(faults="[" + ",".join(["{}"] * 20_001) + "]"),
        "faults-200-all-wrong.yaml": _with(faults="".join(_fault(toxic="latancy") for _ in range(200))),
        "ok-faults-300.yaml": _with(faults="".join(_fault() for _ in range(300))),
        "invariants-500-unknown.yaml": _with(
            invariants="[" + ", ".join(f"nope{i}" for i in range(500)) + "]"
        ),
        "invariants-deep-params.yaml": _with(
            invariants="[{eventual_refund: " + _nest(50, "{within: ", "}") + "}]"
        ),
        "guards-threshold-inf.yaml": _with(guards="[{metric: error_rate, above: 1e400%}]"),
        "guards-threshold-nan.yaml": _with(guards="[{metric: error_rate, above: nan%}]"),
        "guards-threshold-float-inf.yaml": _with(guards="[{metric: rps, below: .inf}]"),
        "coverage-huge-requirement.yaml": _with(coverage="{voids: '>= " + "9" * 3000 + "'}"),
        "seed-a-list.yaml": _with(seed="[1]"),
        "quick-scale-nan.yaml": _with(quick="{scale: .nan}"),
    }


def _durations() -> dict[str, str | bytes]:
    huge = "9" * 400
    return {
        "duration-load-0s.yaml": _with(load="{users: 2, duration: 0s}"),
        "duration-load-0ms.yaml": _with(load="{users: 2, duration: 0ms}"),
        "duration-load-400-digits.yaml": _with(load=f"{{users: 2, duration: {huge}s}}"),
        "duration-load-inf-text.yaml": _with(load="{users: 2, duration: infs}"),
        "duration-load-nan-text.yaml": _with(load="{users: 2, duration: nan}"),
        "duration-load-yaml-inf.yaml": _with(load="{users: 2, duration: .inf}"),
        "duration-load-yaml-nan.yaml": _with(load="{users: 2, duration: .nan}"),
        "duration-load-negative.yaml": _with(load="{users: 2, duration: -5s}"),
        "duration-load-exponent.yaml": _with(load="{users: 2, duration: 1e3s}"),
        "duration-load-days.yaml": _with(load="{users: 2, duration: 8d}"),
        "duration-load-169h.yaml": _with(load="{users: 2, duration: 169h}"),
        "ok-duration-load-168h.yaml": _with(load="{users: 2, duration: 168h}"),
        "duration-load-huge-hours.yaml": _with(load="{users: 2, duration: 99999999999999999999h}"),
        "duration-load-two-dots.yaml": _with(load="{users: 2, duration: 1.5.5s}"),
        "duration-load-arabic-digits.yaml": _with(load="{users: 2, duration: ٣٠s}"),
        "duration-load-no-unit.yaml": _with(load="{users: 2, duration: 30}"),
        "duration-load-a-list.yaml": _with(load="{users: 2, duration: [10s]}"),
        "duration-stage-0s.yaml": _with(
            load="{users: 2, shape: {type: stages, stages: [{duration: 0s, users: 2}]}}"
        ),
        "duration-stages-over-a-week.yaml": _with(
            load="{users: 2, shape: {type: stages, stages: [{duration: 100h, users: 2}, {duration: 100h, users: 1}]}}"
        ),
        "duration-spike-for-0s.yaml": _with(
            load="{users: 2, duration: 10s, shape: {type: spike, at: 1s, multiple: 2, for: 0s}}"
        ),
        "duration-timeout-0s.yaml": _with(load="{users: 2, duration: 10s, timeout: 0s}"),
        "duration-wait-400-digits.yaml": _with(load=f"{{users: 2, duration: 10s, wait: [1s, {huge}s]}}"),
        "duration-fault-0s.yaml": _with(faults=_fault(duration="0s")),
        "duration-fault-at-400-digits.yaml": _with(faults=_fault(at=f"{huge}s")),
        "duration-fault-latency-400-digits.yaml": _with(faults=_fault(latency=f"{huge}ms")),
        "duration-fault-latency-inf.yaml": _with(faults=_fault(latency=".inf")),
        "duration-settle-poll-0s.yaml": _with(settle="{poll: 0s}"),
        "duration-settle-timeout-huge.yaml": _with(settle=f"{{timeout: {huge}s}}"),
        "duration-guard-p99-huge.yaml": _with(guards=f"[{{metric: p99, above: {huge}s}}]"),
        "duration-guard-for-huge.yaml": _with(guards=f"[{{metric: p99, above: 2s, for: {huge}s}}]"),
        "duration-invariant-within-huge.yaml": _with(
            invariants=f"[{{eventual_refund: {{within: {huge}s}}}}]"
        ),
        "duration-quick-settle-huge.yaml": _with(quick=f"{{settle: {huge}s}}"),
    }


def _targets() -> dict[str, str | bytes]:
    """Hostile target descriptions, each with the experiment that names it."""
    # Written here, not copied from targets/paystack, so the corpus does not change when it does.
    small = "name: hostile\nservices:\n  svc: {command: [x], port: 8000}\n"
    targets: dict[str, str | bytes] = {
        "alias-bomb.yaml": "name: hostile\n" + _bomb(),
        "deep.yaml": "name: hostile\nservices: " + _nest(5000, "[", "]") + "\n",
        "complex-key.yaml": "name: hostile\nservices:\n  ? [a, b]\n  : {command: [x]}\n",
        "empty.yaml": "",
        "a-list.yaml": "- name: hostile\n",
        "invalid-utf8.yaml": b"name: \xff\n",
        "python-tag.yaml": "name: !!python/object/apply:os.system ['echo pwned']\n",
        "recursive.yaml": "name: hostile\nservices: &s {a: *s}\n",
        "many-values.yaml": "name: hostile\nnotes: [" + ",".join(["0"] * 20_001) + "]\n",
        "duplicate-key.yaml": small + "name: again\n",
        "start-timeout-huge.yaml": small.replace("port: 8000", "port: 8000, start_timeout: " + "9" * 400 + "s"),
        "port-huge.yaml": small.replace("port: 8000", "port: 10000000000000000000000"),
        "command-empty.yaml": small.replace("[x]", "[]"),
    }  # fmt: skip
    files: dict[str, str | bytes] = {f"targets/{name}": text for name, text in targets.items()}
    for name in targets:
        stem = name.removesuffix(".yaml")
        files[f"target-file-{stem}.yaml"] = f"name: hostile\ntarget: {{path: targets/{name}}}\n"
    return files


def corpus() -> dict[str, bytes]:
    """Every file of the corpus, by its path relative to this folder."""
    files = {**_yaml_structure(), **_model(), **_durations(), **_targets()}
    return {name: text if isinstance(text, bytes) else text.encode("utf-8") for name, text in files.items()}


def main() -> int:
    wanted = corpus()
    for old in [*HERE.glob("*.yaml"), *HERE.glob("targets/*.yaml")]:
        if str(old.relative_to(HERE)) not in wanted:
            old.unlink()
    for name, data in wanted.items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(wanted)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
