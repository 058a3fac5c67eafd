"""The browser harness and the tests that use it: the course in a real JupyterLab, and the built
course site, in headless Chromium.

- ``harness``: the harness's own error and the time budget every wait draws on;
- ``jupyterlab``: ``jupyter lab`` started and always stopped for a test (``JupyterLabServer``);
- ``browser``: the system Chromium through Playwright, a bounded ``page.evaluate``, the watchdog;
- ``notebook``: a notebook run in JupyterLab as a learner sees it, its widgets operated.
"""
