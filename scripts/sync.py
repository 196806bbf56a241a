"""Keep the generated files in step with the notebooks (the Makefile's `readme` and `check-sync` targets call this).

    python scripts/sync.py readme   # README.md from nbs/index.ipynb (nbconvert: nbdev_readme needs Quarto)
    python scripts/sync.py check    # fail if nbdev_export, the readme command or nbdev_clean would change anything

`check` compares against the working tree as it is, committed or not: it copies what the three commands read and
write (settings.ini, README.md, lsfix/, the notebooks) into a temporary folder, runs them there, and diffs the copy
against the tree. The tree itself is never written, so an uncommitted notebook edit passes as long as lsfix/,
README.md and the notebook's cleaned form agree with it. Notebook outputs are not compared with a fresh run
(nbdev_clean keeps them); `make notebooks` produces them.
"""
import argparse, difflib, filecmp, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # run with the venv's python: its nbdev and jupyter sit beside it
MAX_DIFF_LINES = 40  # per file, in the error message


def run(cmd:list, cwd:Path) -> None:
    "Run `cmd` in `cwd`; on failure, stop with its output."
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if res.returncode: sys.exit(f"error: {' '.join(map(str, cmd))} failed in {cwd} (exit {res.returncode}):\n{res.stdout}{res.stderr}")


def readme(root:Path) -> Path:
    "Write root/README.md from root/nbs/index.ipynb: nbconvert to Markdown, trailing whitespace stripped from every line."
    run([BIN / "jupyter", "nbconvert", "--log-level=WARN", "--to", "markdown", "nbs/index.ipynb", "--output-dir", ".", "--output", "README"], root)
    path = root / "README.md"
    text = path.read_text(encoding="utf-8")
    path.write_text("\n".join(line.rstrip(" \t\r\f\v") for line in text.split("\n")), encoding="utf-8")
    return path


def synced_files(root:Path) -> list[Path]:
    "The files nbdev_export, the readme command and nbdev_clean read or write, relative to `root`."
    notebooks = [p for p in (root / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    modules = [p for p in (root / "lsfix").rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(p.relative_to(root) for p in [root / "settings.ini", root / "README.md", *notebooks, *modules] if p.exists())


def snapshot(root:Path, dest:Path) -> Path:
    "Copy the synced files of the working tree `root` into `dest` (as they are on disk, committed or not)."
    for rel in synced_files(root):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    return dest


def regenerate(folder:Path) -> None:
    "What a contributor runs after editing notebooks: nbdev_export, the readme command, nbdev_clean."
    run([BIN / "nbdev_export"], folder)
    readme(folder)
    run([BIN / "nbdev_clean"], folder)


def differences(root:Path, copy:Path) -> dict[str, str]:
    "Each file the regeneration in `copy` created or changed, with a short unified diff against `root`."
    out = {}
    for rel in synced_files(copy):
        mine, theirs = root / rel, copy / rel
        if mine.exists() and filecmp.cmp(mine, theirs, shallow=False): continue
        before = mine.read_text(encoding="utf-8").splitlines() if mine.exists() else []
        diff = list(difflib.unified_diff(before, theirs.read_text(encoding="utf-8").splitlines(),
                                         f"{rel} (working tree)", f"{rel} (regenerated)", n=1, lineterm=""))
        more = len(diff) - MAX_DIFF_LINES
        out[str(rel)] = "\n".join(diff[:MAX_DIFF_LINES] + ([f"... {more} more diff lines"] if more > 0 else []))
    return out


def check(root:Path) -> int:
    "0 when regenerating changes nothing; else 1, after naming each file that would change and how."
    with tempfile.TemporaryDirectory(prefix="lsfix-sync-") as tmp:
        copy = snapshot(root, Path(tmp))
        regenerate(copy)
        changed = differences(root, copy)
    if not changed:
        print("sync check: nbs/, lsfix/ and README.md agree")
        return 0
    print("error: notebooks, lsfix/ and README.md are out of sync; nbdev_export, make readme and nbdev_clean would change:\n  "
          + "\n  ".join(changed) + "\nRun them (or fix the notebook), then check again. The differences:\n", file=sys.stderr)
    for diff in changed.values(): print(diff + "\n", file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("readme", "check"))
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: the one this script is in)")
    args = parser.parse_args()
    if args.command == "readme":
        readme(args.root)
        return 0
    return check(args.root)


if __name__ == "__main__":
    sys.exit(main())
