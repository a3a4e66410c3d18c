"""The protection proxy: HTTP/1.1 in, the policy's verdict applied, bytes out.

Read in this order (each module says what it must not do):

- `http1.py`, `fastpath.py`: parse and serialize heads. No I/O.
- `responses.py`, `pac.py`: the answers the proxy makes up itself. No I/O.
- `exchange.py`: the `Planner`. Decides (through `trackguard.policy`), explains and
  records one request, builds the head that goes upstream, answers a response head. No
  awaits, no transports. Every way in calls it; nothing else decides.
- `log.py`: the decision log (SQLite through `trackguard.sqlite`, written off the loop).
- `connection.py`: what connections share: limits, stages, the narrow `Context`.
- `pool.py`: idle keep-alive upstreams.
- `fastconn.py`: the fast path (asyncio.Protocol callbacks for simple GET/HEAD), which
  hands anything unusual to `streamconn.py`, the stream path (CONNECT, bodies, upgrades...).
- `listen.py`: listening sockets and the batch acceptor.
- `server.py`: the composition root: wires the above, sweeps deadlines, closes gracefully.
- `service.py`, `workers.py`: a running proxy with its engine, settings and log; several
  processes on one port.
- `intercept.py`, `mitm_addon.py`: TLS interception through mitmproxy, same `Planner`.

Imports point down this list, never up; nothing here is imported by `policy`, the engine
or the lists.
"""
