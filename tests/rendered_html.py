"""Read a page as Chromium rendered it (its --dump-dom output): a tiny element tree.

Scripts and styles are dropped, so a check on the tree sees what the page shows,
not the report data embedded in it as JavaScript.
"""
from __future__ import annotations

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
HIDDEN = {"script", "style", "template"}


class Element:
    def __init__(self, tag: str, attrs: dict) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list = []     # Element or str
        self.classes = set((attrs.get("class") or "").split())

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, css_class: str) -> list:
        """Every descendant element carrying `css_class`, in document order."""
        found = []
        for child in self.children:
            if isinstance(child, Element):
                if css_class in child.classes:
                    found.append(child)
                found.extend(child.find_all(css_class))
        return found

    def find(self, css_class: str):
        found = self.find_all(css_class)
        return found[0] if found else None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if self.hidden or tag in HIDDEN:
            self.hidden += tag in HIDDEN
            return
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden:
            return
        for depth in range(len(self.stack) - 1, 0, -1):  # close up to the matching open tag
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
