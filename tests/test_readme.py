"""The README's Python examples run (the long training loop shortened)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


def test_readme_examples_run():
    namespace: dict = {}
    for block in BLOCKS:
        code = block.replace("range(330_000)", "range(300)")
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["loss"].item() > 0
