"""``photostyle app``: a local web app over the same engine as the command line.

* :mod:`photostyle.app.jobs`: the app's work without the web (uploads, masks, jobs,
  strength, downloads); every handler of the page is one call here, tested without a
  browser. It imports no web framework.
* :mod:`photostyle.app.security`: where the app may listen, its login, Gradio's
  environment (no Gradio needed).
* :mod:`photostyle.app.page`: the Gradio page and the server (``pip install -e ".[app]"``).
"""
