"""One module per numbered notebook: what its cells call, above the generic layers.

``explore`` (00), ``depth`` (10), ``text`` (20), ``cyclegan`` (30), ``comics_depth`` (40),
``evaluate`` (50), ``fg`` (60). A stage module never imports another one
(``tests/test_layers.py``): what two stages share lives a layer below (``runs``, ``evaluation``,
``approach2``, ``translate``, ``text_detection``, ``training``, ``inference``…).
"""
