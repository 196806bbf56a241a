"The README's findings paragraph quotes exactly what the saved results of 20_fmnist_selective hold."
import json, re

from lsfix.demo import findings_markdown
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
