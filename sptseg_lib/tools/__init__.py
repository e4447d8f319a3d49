"""Tools around the method, each a ``python -m sptseg_lib.tools.<name>`` command:

- :mod:`~sptseg_lib.tools.run_notebooks`: execute the notebooks with papermill (``make run``);
- :mod:`~sptseg_lib.tools.run_tests`: the whole test suite (``make test``);
- :mod:`~sptseg_lib.tools.ship_miniature`: copy a finished miniature run into ``data/miniature/``;
- :mod:`~sptseg_lib.tools.pretrain_tiny_clip`: pretrain the tiny CLIP of ``data/tiny_clip/``;
- :mod:`~sptseg_lib.tools.timing`: wall-clock comparisons shown in the notebooks (HiLo vs full attention).
"""
