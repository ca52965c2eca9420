"""Jupyter widgets: a plan as a checklist with a ``GO REPAIR`` button, progress bars, an output log.

Without ipywidgets (or outside a kernel) the same objects render as HTML tables, so nothing depends on them.
The selection in the checklist *is* the approval: the button builds ``GO REPAIR: <selected>`` for the plan it
shows and runs it through the session (the same path as ``%repair``), so a stale plan is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .i18n import tr

__all__ = ["PlanView", "diagnosis_progress", "have_widgets"]


def have_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def diagnosis_progress(total: int | None = None) -> Callable[[str, Any], None] | None:
    """A progress-bar callback for ``diagnose(progress=...)`` in a notebook, or ``None`` without ipywidgets."""
    if not have_widgets():
        return None
    import ipywidgets as w
    from IPython.display import display

    from .system import PROBES

    bar = w.IntProgress(min=0, max=total or len(PROBES), description=tr("Diagnose", "Diagnosis"))
    label = w.Label("")
    box = w.HBox([bar, label])
    display(box)

    def update(name: str, _result: Any) -> None:
        bar.value += 1
        label.value = name
        if bar.value >= bar.max:
            box.close()

    return update


class PlanView:
    """Displays a plan; in Jupyter with ipywidgets as an approvable checklist."""

    def __init__(self, plan: Any, session: Any) -> None:
        self.plan = plan
        self.session = session
        self.result: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plan, name)

    def _repr_html_(self) -> str:
        return self.plan._repr_html_()

    def __repr__(self) -> str:
        return repr(self.plan)

    def widget(self):
        import ipywidgets as w

        boxes = []
        for step in self.plan.steps:
            risk = getattr(step, "risk", "")
            label = f"{step.number}. {step.title()}  [{risk}]" if callable(getattr(step, "title", None)) \
                else f"{step.number}. {getattr(step, 'action_id', step)}  [{risk}]"
            boxes.append(w.Checkbox(value=False, description=label, indent=False,
                                    layout=w.Layout(width="auto")))
        confirm = w.Checkbox(value=False, description=tr("Hochrisiko-Schritte bestätigen", "Confirm high-risk steps"),
                             indent=False)
        dry = w.Checkbox(value=False, description=tr("Nur Probelauf", "Dry run only"), indent=False)
        button = w.Button(description="GO REPAIR", button_style="danger", icon="wrench")
        progress = w.IntProgress(min=0, max=max(1, len(boxes)), description=tr("Fortschritt", "Progress"))
        log = w.Output(layout=w.Layout(border="1px solid #ccc", max_height="240px", overflow="auto"))

        def on_click(_btn: Any) -> None:
            chosen = [str(step.number) for step, box in zip(self.plan.steps, boxes) if box.value]
            with log:
                if not chosen:
                    print(tr("Keine Schritte ausgewählt – nichts ausgeführt.", "No steps selected – nothing ran."))
                    return
                progress.value = 0
                progress.max = len(chosen)
                button.disabled = True
                try:
                    self.result = self.session.run(
                        "GO REPAIR: " + ",".join(chosen), dry_run=dry.value, confirm=lambda step: confirm.value,
                        plan_id=self.plan.id,
                        progress=lambda *args, **kw: setattr(progress, "value", min(progress.max, progress.value + 1)))
                    from IPython.display import display

                    display(self.result)
                except Exception as exc:  # noqa: BLE001 - shown in the log, the button stays usable
                    print(f"✖ {exc}")
                finally:
                    button.disabled = False

        button.on_click(on_click)
        return w.VBox([w.HTML(self.plan._repr_html_()), *boxes, confirm, dry, button, progress, log])

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import HTML, display

        shell = get_ipython()
        if shell is None or shell.__class__.__name__ != "ZMQInteractiveShell":
            print(self.plan.text())  # terminal shell: the plain-text plan with its exact commands
            return
        display(self.widget() if have_widgets() else HTML(self._repr_html_()))
