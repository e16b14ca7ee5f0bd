"""Colours used by every picture in the course.

From the Okabe-Ito palette, which stays distinguishable for the common forms
of colour blindness: values in blue, gradients in vermillion.
"""

VALUE = "#0072B2"  # blue: forward values
GRADIENT = "#D55E00"  # vermillion: gradients
HIGHLIGHT = "#E69F00"  # orange: the stage being shown
CORRECT = "#009E73"  # bluish green
INK = "#222222"
NODE_FACE = "#F4F4F4"
MUTED = "#999999"
