"""One widget per lesson. Each module has a plain ``*_state`` function (what
the widget shows for given inputs; unit-tested) and a ``*_widget`` builder
that only wires sliders to it and draws."""
