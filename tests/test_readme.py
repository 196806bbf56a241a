"The README's findings paragraph quotes exactly what the saved results of 20_fmnist_selective hold."
import json, re

from lsfix.demo import findings_markdown
from lsfix.analysis import format_interval
from conftest import ROOT



def test_readme_findings_match_saved_results():
    claims = json.loads((ROOT / "nbs" / "results" / "fmnist_claims.json").read_text())
    expected = findings_markdown(claims)
    readme = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())  # the notebook wraps the paragraph's lines
    assert re.sub(r"\s+", " ", expected) in readme, f"README's findings paragraph differs from the saved results; it should read:\n{expected}"


def test_findings_change_with_the_numbers():
    "The check can fail: a different saved number gives a different paragraph."
    claims = json.loads((ROOT / "nbs" / "results" / "fmnist_claims.json").read_text())
    claims["comparisons"]["LS vs CE (MSP)"]["0.1"]["aurc"][0] += 0.001
    assert findings_markdown(claims) != findings_markdown(json.loads((ROOT / "nbs" / "results" / "fmnist_claims.json").read_text()))


def _beyond_quotes() -> list[str]:
    "The intervals the README's 'Beyond the paper' paragraph quotes, regenerated from the saved results of notebooks 23 and 24."
    arch = json.loads((ROOT / "nbs" / "results" / "fmnist_architectures_claims.json").read_text())["comparisons"]
    mix = json.loads((ROOT / "nbs" / "results" / "mixup_claims.json").read_text())
    quotes = [format_interval(arch[f"{m}|{name}|0.3"]["aurc"], 1000) for m in ("fcn", "cnn", "resnet20")
              for name in ("LS vs CE (MSP)", "logit-norm vs MSP (LS model)")]
    quotes += [format_interval(mix["vs_ce"][f"{m}|{v}"]["msp_aurc"], 1000) for m in ("fcn", "cnn") for v in ("mixup1", "cutmix1")]
    return quotes


def test_readme_beyond_the_paper_matches_saved_results():
    readme = (ROOT / "README.md").read_text()
    missing = [q for q in _beyond_quotes() if q not in readme]
    assert not missing, f"README's 'Beyond the paper' paragraph does not quote the saved results: {missing} are missing"


def _eval_bench_quote(results:dict) -> str:
    "The README's sentence on lsfix-eval's speed, from the committed `make bench` rows."
    rows = {r["name"]: r for r in results["results"] if r["module"] == "bench_evaluate"}
    big, wide = (rows[f"lsfix-eval {label} test + val, 1,000 resamples, figures"] for label in ("100k x 1,000 float32", "50k x 20,000 float16"))
    rss = lambda row: re.search(r"peak RSS ([\d.]+) GB", row["note"]).group(1)
    return (f"`make bench` measured {big['value']:.1f} s and {rss(big)} GB peak for 100k × 1,000 float32 test + validation files "
            f"and {wide['value']:.0f} s and {rss(wide)} GB for 50k × 20,000 float16 ones")


def test_readme_eval_speed_matches_bench():
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    quote = _eval_bench_quote(results)
    assert quote in re.sub(r"\s+", " ", (ROOT / "README.md").read_text()), f"README should quote the committed bench rows: {quote!r}"
    changed = json.loads(json.dumps(results))
    next(r for r in changed["results"] if r["name"].startswith("lsfix-eval 100k x 1,000 float32 test"))["value"] += 1
    assert _eval_bench_quote(changed) != quote  # the check can fail
