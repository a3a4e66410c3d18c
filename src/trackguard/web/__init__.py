"""The dashboard: see and control protection in the browser, at the proxy's own address.

Read in this order:

- `guard.py`: who may use it (Host, Origin, CSRF token from a per-install secret; CSP).
- `api.py`: what it shows and what it may change, as JSON values, through the same
  library calls as the command line.
- `app.py`: the proxy hands it requests for the proxy itself; it answers them (page,
  static files, JSON, actions, the live log as server-sent events).
- `static/`: one HTML page, one script, one stylesheet. No build step, nothing remote.

The proxy never imports this package; the CLI builds `app.WebApp` and hands it over.
"""
