"""Re-running a notebook gives the same file: widget model ids are renamed in order."""

from course.authoring.execute import stable_widget_ids

A, B = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"


def test_ids_are_renamed_in_order_of_appearance_everywhere():
    text = f'{{"model_id": "{B}", "children": ["IPY_MODEL_{A}", "IPY_MODEL_{B}"], "{A}": {{}}}}'
    first, second = f"{1:032x}", f"{2:032x}"
    assert stable_widget_ids(text) == (
        f'{{"model_id": "{first}", "children": ["IPY_MODEL_{second}", "IPY_MODEL_{first}"], "{second}": {{}}}}')


def test_longer_hex_runs_are_left_alone():
    text = "a" * 40
    assert stable_widget_ids(text) == text


def test_numbering_follows_the_outputs_not_the_saved_order():
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from course.authoring.execute import WIDGET_STATE, widget_order

    def notebook(state_items):
        view = new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": A}})
        cell = new_code_cell("w")
        cell.outputs = [view]
        nb = new_notebook(cells=[cell])
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": dict(state_items)}}
        return nb

    items = [(A, {"state": {"children": [f"IPY_MODEL_{B}"]}}), (B, {"state": {}})]
    for ordering in (items, items[::-1]):
        nb = notebook(ordering)
        assert widget_order(nb) == [A, B]
        text = stable_widget_ids(nbformat.writes(nb), widget_order(nb))
        assert f'"model_id": "{1:032x}"' in text and f"IPY_MODEL_{2:032x}" in text


def test_stream_chunks_are_joined():
    from nbformat.v4 import new_output

    from course.authoring.execute import coalesce_streams

    outs = [new_output("stream", name="stdout", text="a\n"), new_output("stream", name="stdout", text="b\n"),
            new_output("stream", name="stderr", text="c\n"), new_output("stream", name="stdout", text="d\n")]
    assert [(o.name, o.text) for o in coalesce_streams(outs)] == [("stdout", "a\nb\n"), ("stderr", "c\n"),
                                                                 ("stdout", "d\n")]
