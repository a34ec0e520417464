"""The README stays short and starts with the two commands; every relative link of the README
and of docs/ resolves, to a file and, with a `#anchor`, to one of its headings; and the README
links every docs page."""

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without fenced code blocks (whose `#` lines are no headings) and code spans."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: the rendered text in lower case, punctuation dropped
    (letters, digits, `_` and `-` kept), spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated one gets -1, -2... as on GitHub."""
    found: set[str] = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text())):
        base = slug(match[2])
        anchor, n = base, 0
        while anchor in found:
            n += 1
            anchor = f"{base}-{n}"
        found.add(anchor)
    return found


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto:


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    head = "\n".join(lines[:40])
    assert "make run" in head and "make test" in head


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    assert relative_links(page) or page != README
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / target.partition("#")[0]).resolve()
              for target in relative_links(README)}
    assert DOCS and [page.name for page in DOCS if page.resolve() not in linked] == []


def test_every_docs_page_starts_with_a_title_and_its_purpose():
    for page in DOCS:
        title, blank, purpose = page.read_text().splitlines()[:3]
        assert title.startswith("# ") and blank == "" and purpose, page.name


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Results (measured)", "results-measured"),
    ("`weights.json`, format_version 1", "weightsjson-format_version-1"),
    ("The schedule: directives and why", "the-schedule-directives-and-why"),
    ("What `make run` produces", "what-make-run-produces"),
    ("Folds: the multipliers the fold promises", "folds-the-multipliers-the-fold-promises")])
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A heading: here\n\n```sh\n# not one\n```\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-heading-here) [gone](missing.md) "
                    "[bad](other.md#not-one) [self](#nowhere) `[code](missing.md)`\n"
                    "[web](https://example.com/x.md)\n")
    assert broken_links(page) == ["missing.md: no such file",
                                  "other.md#not-one: no heading #not-one in other.md",
                                  "#nowhere: no heading #nowhere in page.md"]
