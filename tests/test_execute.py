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
