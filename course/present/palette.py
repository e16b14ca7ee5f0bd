"""Colours used by every picture in the course.

From the Okabe-Ito palette, which stays distinguishable for the common forms
of colour blindness: values in blue, gradients in vermillion.
"""

VALUE = "#0072B2"  # blue: forward values
GRADIENT = "#D55E00"  # vermillion: gradients
# Vermillion as text on white is too pale to read (contrast 3.9 : 1, below the
# 4.5 : 1 that WCAG AA asks of text); the same hue darker reaches 5.8 : 1.
GRADIENT_TEXT = "#A84A00"
HIGHLIGHT = "#E69F00"  # orange: the stage being shown
CORRECT = "#009E73"  # bluish green
INK = "#222222"
NODE_FACE = "#F4F4F4"
MUTED = "#999999"
