"""The form engine: a FHIR Questionnaire rendered as Qt widgets, answered as simple answers.

Items become fields (form_fields.py); groups become boxes; repeating groups get Add / Remove
buttons; enableWhen shows and hides items as the person answers. ``answers()`` gives the simple
answers ``forms.validate_answers`` takes; ``show_problems`` puts each FormError problem beside its
field and focuses the first.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from forms.answers import condition_holds
from forms.compiled import expected_answer
from forms.values import is_blank
from sync.clock import Clock

from .form_fields import Field, make_field
from .theme import named, set_role


class Container:
    """The items of the form, a group, or one instance of a repeating group."""

    def __init__(self, items: list[dict], path: str, parent: Container | None, on_change, clock: Clock | None = None):
        self.parent, self.path, self.on_change = parent, path, on_change
        self.clock = parent.clock if parent is not None else clock or Clock()
        self.widget = QWidget()
        self.layout = QVBoxLayout(self.widget)
        self.layout.setContentsMargins(0, 0, 0, 0)
        self.layout.setSpacing(8)
        self.nodes: list[Field | Group | RepeatingGroup] = []
        for item in items:
            here = f"{path}.{item['linkId']}" if path else item["linkId"]
            if item["type"] == "group":
                node = RepeatingGroup(item, here, self, on_change) if item.get("repeats") else \
                    Group(item, here, self, on_change)
            elif item["type"] == "display":
                label = QLabel(item.get("text", ""))
                label.setWordWrap(True)
                self.layout.addWidget(label)
                continue
            else:
                node = make_field(item, here, self.clock)
                node.changed.connect(on_change)
            self.nodes.append(node)
            self.layout.addWidget(node.row)

    # -- enableWhen --------------------------------------------------------------------------
    def lookup(self, link_id: str) -> list[Any]:
        """Answers to ``link_id`` seen from here: this instance first, then the enclosing ones."""
        container: Container | None = self
        while container is not None:
            found = container.find(link_id)
            if found is not None:
                return found
            container = container.parent
        return []

    def find(self, link_id: str) -> list[Any] | None:
        for node in self.nodes:
            if node.link_id == link_id:
                if isinstance(node, Field):
                    value = node.value()
                    values = value if isinstance(value, list) else [value]
                    return [v for v in values if not is_blank(v)]
                return []
            if isinstance(node, Group):
                found = node.body.find(link_id)
                if found is not None:
                    return found
        return None

    def refresh(self) -> None:
        for node in self.nodes:
            conditions = node.item.get("enableWhen", ())
            if conditions:
                results = [condition_holds(c["operator"], expected_answer(c), self.lookup(c["question"])) for c in conditions]
                enabled = any(results) if node.item.get("enableBehavior") == "any" else all(results)
                node.row.setVisible(enabled)
                node.enabled = enabled
            if isinstance(node, Group):
                node.body.refresh()
            elif isinstance(node, RepeatingGroup):
                for inst in node.instances:
                    inst.refresh()

    # -- answers -----------------------------------------------------------------------------
    def answers(self, index: dict[str, Any], path: str) -> dict:
        """Simple answers of the enabled, non-blank items; ``index`` maps validator paths to widgets."""
        out: dict[str, Any] = {}
        for node in self.nodes:
            if not getattr(node, "enabled", True):
                continue
            here = f"{path}.{node.link_id}" if path else node.link_id
            index.setdefault(node.link_id, node)
            index[here] = node
            if isinstance(node, Field):
                value = node.value()
                if not is_blank(value):
                    out[node.link_id] = value
            elif isinstance(node, Group):
                value = node.body.answers(index, here)
                if value:
                    out[node.link_id] = value
            else:
                entries = []
                for inst in node.instances:
                    value = inst.answers(index, f"{here}[{len(entries) + 1}]")
                    if value:
                        entries.append(value)
                if entries:
                    out[node.link_id] = entries
        return out

    def fields(self) -> list[Field]:
        out: list[Field] = []
        for node in self.nodes:
            if isinstance(node, Field):
                out.append(node)
            elif isinstance(node, Group):
                out += node.body.fields()
            else:
                for inst in node.instances:
                    out += inst.fields()
        return out

    def set_answers(self, values: dict) -> None:
        for node in self.nodes:
            if node.link_id not in values:
                continue
            value = values[node.link_id]
            if isinstance(node, Field):
                node.set_value(value)
            elif isinstance(node, Group):
                node.body.set_answers(value or {})
            else:
                node.set_entries(value or [])


class Group:
    """A non-repeating group: a titled box around its items."""

    def __init__(self, item: dict, path: str, parent: Container, on_change):
        self.item, self.link_id, self.path, self.enabled = item, item["linkId"], path, True
        required = " *" if item.get("required") else ""
        self.row = QGroupBox(item.get("text", self.link_id) + required)
        self.row.setAccessibleName(item.get("text", self.link_id))
        lay = QVBoxLayout(self.row)
        self.body = Container(item.get("item", []), path, parent, on_change)
        lay.addWidget(self.body.widget)


class RepeatingGroup:
    """A group that repeats: one box per entry, with Add and Remove buttons."""

    def __init__(self, item: dict, path: str, parent: Container, on_change):
        self.item, self.link_id, self.path, self.enabled = item, item["linkId"], path, True
        self.parent, self.on_change = parent, on_change
        self.title = item.get("text", self.link_id)
        self.row = QWidget()
        self.row.setAccessibleName(self.title)
        self.layout = QVBoxLayout(self.row)
        self.layout.setContentsMargins(0, 0, 0, 0)
        heading = set_role(QLabel(self.title + (" *" if item.get("required") else "") + " (add one per entry)"),
                           "subtitle")
        self.layout.addWidget(heading)
        self.instances: list[Container] = []
        self.boxes: list[QGroupBox] = []
        self.add_button = named(QPushButton(f"+ Add {self.title.lower()}"), f"Add {self.title.lower()}")
        self.add_button.clicked.connect(self.add)
        self.layout.addWidget(self.add_button)
        self.add()

    def add(self) -> Container:
        n = len(self.instances) + 1
        box = QGroupBox(f"{self.title} {n}")
        lay = QVBoxLayout(box)
        inst = Container(self.item.get("item", []), f"{self.path}[{n}]", self.parent, self.on_change)
        lay.addWidget(inst.widget)
        remove = named(QPushButton(f"Remove {self.title.lower()} {n}"), f"Remove {self.title.lower()} {n}")
        remove.clicked.connect(lambda: self.remove(inst))
        lay.addWidget(remove)
        self.instances.append(inst)
        self.boxes.append(box)
        self.layout.insertWidget(self.layout.count() - 1, box)
        if self.row.isVisible():  # added after the form was shown: show it now, not after the next event
            box.show()
        self.on_change()
        return inst

    def remove(self, inst: Container) -> None:
        i = self.instances.index(inst)
        box = self.boxes.pop(i)
        self.instances.pop(i)
        box.hide()
        box.setParent(None)
        box.deleteLater()
        for n, (b, c) in enumerate(zip(self.boxes, self.instances, strict=True), 1):
            b.setTitle(f"{self.title} {n}")
            for button in b.findChildren(QPushButton):
                if button.text().startswith("Remove"):
                    button.setText(f"Remove {self.title.lower()} {n}")
                    button.setAccessibleName(button.text())
            c.path = f"{self.path}[{n}]"
        self.on_change()

    def set_entries(self, entries: list[dict]) -> None:
        while len(self.instances) < len(entries):
            self.add()
        for inst, values in zip(self.instances, entries, strict=False):
            inst.set_answers(values)


class FormView(QScrollArea):
    """A whole Questionnaire as a scrolling form."""

    changed = Signal()

    def __init__(self, questionnaire: dict, parent: QWidget | None = None, clock: Clock | None = None):
        super().__init__(parent)
        self.questionnaire = questionnaire
        self.setWidgetResizable(True)
        self.setAccessibleName(f"{questionnaire.get('title', 'Form')} form")
        inner = QWidget()
        lay = QVBoxLayout(inner)
        legend = set_role(QLabel("Fields marked * are required."), "hint")
        lay.addWidget(legend)
        self._refreshing = False
        self.root = Container(questionnaire.get("item", []), "", None, self._changed, clock)
        lay.addWidget(self.root.widget)
        lay.addStretch(1)
        self.setWidget(inner)
        self._index: dict[str, Any] = {}
        self.root.refresh()

    def _changed(self) -> None:
        if self._refreshing or not hasattr(self, "root"):
            return
        self._refreshing = True
        try:
            self.root.refresh()
        finally:
            self._refreshing = False
        self.changed.emit()

    def answers(self) -> dict:
        self._index = {}
        return self.root.answers(self._index, "")

    def set_answers(self, values: dict) -> None:
        self.root.set_answers(values)
        self._changed()

    def fields(self) -> list[Field]:
        return self.root.fields()

    def field(self, link_id: str, entry: int = 1) -> Field:
        """The field for ``link_id`` (in the ``entry``-th repeat when inside a repeating group)."""
        matches = [f for f in self.fields() if f.link_id == link_id]
        if not matches:
            raise KeyError(link_id)
        return matches[min(entry, len(matches)) - 1]

    def clear_problems(self) -> None:
        for f in self.fields():
            f.clear_error()

    def show_problems(self, problems: list) -> list[str]:
        """Show each problem beside its field, focus the first; returns messages with no field."""
        self.clear_problems()
        if not self._index:
            self.answers()
        unplaced, first = [], None
        for p in problems:
            node = self._index.get(p.path) or self._index.get(p.link_id or "")
            target = node if isinstance(node, Field) else self._first_field(node)
            if target is None:
                unplaced.append(p.message)
                continue
            previous = target.error.text() if target.error.isVisible() else ""
            target.show_error(f"{previous}\n{p.message}".strip())
            first = first or target
        if first is not None:
            self.ensureWidgetVisible(first.row)
            first.focus_widget().setFocus()
        return unplaced

    def _first_field(self, node) -> Field | None:
        if isinstance(node, Group):
            fields = node.body.fields()
        elif isinstance(node, RepeatingGroup):
            fields = [f for inst in node.instances for f in inst.fields()]
        else:
            return None
        visible = [f for f in fields if f.row.isVisibleTo(self.widget())]
        return (visible or fields or [None])[0]
