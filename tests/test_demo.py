"""The demo end to end through its script: a smoke run (tiny subset, 1 epoch) produces every report section,
is reproducible with the same seed, and bad arguments fail before training."""
import json, re, subprocess, sys

import pytest

from conftest import ENV, ROOT

DATA = ROOT / "data"
SMOKE = ["--alphas", "0", "0.2", "--n_boot", "50", "--overrides", "subset=2000", "epochs=1", "progress=False"]


def demo(out, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out), "--data", str(DATA), *args],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not (DATA / "FashionMNIST" / "raw").is_dir(): pytest.fail("data/FashionMNIST/raw is missing: run `make data` first")
    out = tmp_path_factory.mktemp("demo")
    res = demo(out, *SMOKE)
    assert res.returncode == 0, res.stderr
    return out, res


def test_report_has_every_section(smoke):
    out, res = smoke
    assert f"The demo report is at {out / 'report' / 'report.md'}" in res.stdout
    text = (out / "report" / "report.md").read_text()
    for heading in ("## Summary", "## 1. Risk–coverage with MSP", "## 2. Risk–coverage with logit normalisation",
                    "## 3. Max logit given MSP", "## 4. Epistemic injection", "## 5. Selective classification and calibration",
                    "## 6. Deployment with a guarantee"):
        assert heading in text
    claims = [l for l in text.splitlines() if l.startswith("- **")]
    assert len(claims) == 5                                   # accuracy, SC, logit-norm, Eq 16, injection
    for png in ("rc_msp.png", "rc_logitnorm.png", "max_logit_given_msp.png"):
        assert (out / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = json.loads((out / "report" / "report.json").read_text())["models"]
    assert set(models) == {"0", "0.2"}
    for m in models.values():  # numbers come from the run: error matches the exported logits
        assert 0 < m["metrics"]["MSP"]["error"][0] < 1 and m["n"] == 2000


# The summary's verdicts, re-derived from the intervals the report prints next to them. The oracle is written out here
# (not lsfix.selective.verdict/claim_verdict): an interval (estimate, low, high) of B − A is "higher" when low > 0,
# "lower" when high < 0; a printed bound of +0.00 has an unknown sign, and a verdict that hinges on one is not checked.
NUMBER = r"[+-]\d+\.\d+"
INTERVAL = re.compile(rf"(\S+) ({NUMBER}) \[({NUMBER}), ({NUMBER})\]")


def sign(printed:str) -> int | None:
    "The sign of the number a report printed: -0.00 is negative, +0.00 unknown (zero or a rounded positive)."
    value = float(printed)
    return 1 if value > 0 else -1 if value < 0 or printed.startswith("-") else None


def direction(low:str, high:str) -> str | None:
    "'higher', 'lower' or 'no significant difference' for a printed interval; None when a rounded bound hides it."
    if sign(low) == 1: return "higher"
    if sign(high) == -1: return "lower"
    return None if None in (sign(low), sign(high)) else "no significant difference"


def expected_verdict(intervals:dict[str, tuple[str, str]], expect:str) -> str | None:
    "The claim 'B is `expect` than A' over one metric family, from its printed intervals; None when not decidable."
    found = []
    for metric, (low, high) in intervals.items():
        d = direction(low, high)
        if d is None: return None
        better = "higher" if metric.startswith("cov@") else "lower"  # coverage at a risk: higher is better
        found.append("no significant difference" if d == "no significant difference" else "better" if d == better else "worse")
    if all(v == expect for v in found): return "supported"
    if any(v not in (expect, "no significant difference") for v in found): return "not supported"
    return "no significant difference" if all(v == "no significant difference" for v in found) else "partly supported"


def check_family_line(line:str, expect:str) -> None:
    "`  - family: **overall** (α = a: verdict, metric est [low, high], ...; α = ...)`: each verdict from its intervals."
    overall, rest = re.fullmatch(r"  - [^:]+: \*\*([a-z ]+)\*\* \((.*)\)", line).groups()
    per_alpha = []
    for part in rest.split("; "):
        alpha, verdict, numbers = re.fullmatch(r"α = (\S+): ([a-z ]+), (.*)", part).groups()
        intervals = {m: (low, high) for m, _, low, high in INTERVAL.findall(numbers)}
        assert intervals and len(intervals) == numbers.count("["), part
        want = expected_verdict(intervals, expect)
        assert want is None or verdict == want, f"α = {alpha}: the report says {verdict!r}, its intervals give {want!r}: {line}"
        per_alpha.append(verdict)
    assert overall == (per_alpha[0] if len(set(per_alpha)) == 1 else "partly supported"), line


def test_summary_verdicts_follow_the_printed_intervals(smoke):
    out, _ = smoke
    lines = (out / "report" / "report.md").read_text().split("## Summary")[1].split("\n## ")[0].splitlines()
    claims = [i for i, l in enumerate(lines) if l.startswith("- **")]
    accuracy, degrade, recover, eq16, injection = (lines[i] for i in claims)
    # LS keeps accuracy unless some LS model's test error is significantly higher than CE's
    errors = INTERVAL.findall(accuracy.split("interval): ")[1])
    assert [alpha for alpha, *_ in errors] == ["0.2"], accuracy  # the smoke run's one LS model
    keeps = re.match(r"- \*\*LS keeps accuracy: ([a-z ]+)\.\*\*", accuracy)[1]
    if all(sign(lo) is not None for _, _, lo, _ in errors):
        assert keeps == ("not supported" if any(direction(lo, hi) == "higher" for _, _, lo, hi in errors) else "supported")
    for start, stop, expect in ((degrade, recover, "worse"), (recover, eq16, "better")):
        family = [l for l in lines[lines.index(start) + 1: lines.index(stop)] if l.startswith("  - ") and ": **" in l]
        assert len(family) == 4, family  # AURC and E-AURC, AUGRC, Cov@1% and Cov@5%, Risk@10% and Risk@50%
        for line in family: check_family_line(line, expect)
    # Eq 16: supported when every LS model's max-logit gap (✗ − ✓ at equal MSP) has a positive lower bound
    gaps = dict((a, lo) for a, _, lo, _ in re.findall(rf"α = (\S+) ({NUMBER}) \[({NUMBER}), ({NUMBER})\]", eq16))
    ls_low = [sign(lo) for a, lo in gaps.items() if float(a) != 0]
    if None not in ls_low:
        positive = [s == 1 for s in ls_low]
        want = "supported" if all(positive) else "partly supported" if any(positive) else "no significant difference"
        assert f"(Eq 16): {want}.**" in eq16, eq16
    # injection: LS accepts more shifted samples when every LS model's count exceeds CE's
    counts = {float(a): int(n) for a, n in re.findall(r"α = (\S+) (\d+) / \d+", injection)}
    assert set(counts) == {0.0, 0.2}
    more = all(n > counts[0.0] for a, n in counts.items() if a != 0.0)
    assert f"coverage (MSP):** {'yes' if more else 'not for every α'}," in injection, injection


def test_the_verdict_oracle_can_fail():
    "The parser rejects a verdict its intervals contradict (so the test above is not vacuous)."
    good = "  - AURC, E-AURC: **supported** (α = 0.2: supported, aurc +3.10 [+1.20, +5.00], eaurc +2.00 [+0.50, +3.50])"
    check_family_line(good, "worse")
    for bad in (good.replace("**supported**", "**not supported**"),
                good.replace("aurc +3.10 [+1.20, +5.00]", "aurc +0.10 [-1.20, +5.00]"),
                good.replace(": supported,", ": partly supported,")):
        with pytest.raises(AssertionError): check_family_line(bad, "worse")
    assert expected_verdict({"cov@1%": ("+0.50", "+2.00")}, "better") == "supported"
    assert expected_verdict({"aurc": ("+0.00", "+2.00")}, "worse") is None
    assert expected_verdict({"aurc": ("-0.00", "-0.00")}, "worse") == "not supported"


def test_rerun_reuses_and_force_reproduces(smoke):
    out, _ = smoke
    before = json.loads((out / "report" / "report.json").read_text())["models"]
    mtime = (out / "alpha_0" / "model.pt").stat().st_mtime_ns
    res = demo(out, *SMOKE)
    assert res.returncode == 0 and "reusing" in res.stderr
    assert (out / "alpha_0" / "model.pt").stat().st_mtime_ns == mtime
    res = demo(out, *SMOKE, "--force", "1")
    assert res.returncode == 0, res.stderr
    assert (out / "alpha_0" / "model.pt").stat().st_mtime_ns != mtime
    assert json.loads((out / "report" / "report.json").read_text())["models"] == before


@pytest.mark.parametrize("args, message", [
    (["--alphas", "0", "1.0"], "alpha must be in [0, 1)"),
    (["--alphas", "0.1", "0.2"], "include 0"),
    (["--recipe", "no_such_recipe"], "no_such_recipe"),
])
def test_bad_arguments_fail_before_training(tmp_path, args, message):
    res = demo(tmp_path / "out", *args)
    assert res.returncode == 2 and message in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.pt"))


def test_missing_data_root(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path / "o"), "--data", str(tmp_path / "nodata")],
                         capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert res.returncode == 2 and "nodata" in res.stderr
