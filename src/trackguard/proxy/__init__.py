"""The protection proxy: HTTP/1.1 in, the policy's verdict applied, bytes out.

Read in this order (each module says what it must not do):

- `http1.py`, `fastpath.py`: parse and serialize heads. No I/O.
- `framing.py`: the strict chunked parser that re-frames bodies, and the framing fields
  of forwarded heads (one framing, canonical). No I/O, no buffering of output.
- `responses.py`, `pac.py`: the answers the proxy makes up itself. No I/O.
- `log.py`: the decision log (SQLite through `trackguard.sqlite`, written off the loop).
- `exchange.py`: the `Planner`. Decides (through `trackguard.policy`), explains and
  records one request, builds the head that goes upstream, answers a response head. No
  awaits, no transports. Every way in calls it; nothing else decides.
- `resolve.py`: `--resolver`: upstream hosts resolved through a chosen DNS server, CNAME
  chains uncloaked with `dnsserver`'s rule. Judges names; never touches a connection.
- `pool.py`: idle keep-alive upstreams.
- `connection.py`: what connections share: limits, stages, the narrow `Context`.
- `streamconn.py`: the stream path (StreamReader/Writer coroutines: CONNECT, bodies,
  upgrades, anything unusual), and `fastconn.py`, the fast path (asyncio.Protocol
  callbacks for simple GET/HEAD) that hands such exchanges over to it.
- `listen.py`: listening sockets and the batch acceptor.
- `server.py`: the composition root: wires the above, sweeps deadlines, closes gracefully.
- `workers.py`, `service.py`: several proxy processes on one port; a running proxy with
  its engine, settings and log.
- `intercept.py`, `mitm_addon.py`: TLS interception through mitmproxy, same `Planner`.

Imports point down this list, never up; nothing here is imported by `policy`, the engine
or the lists.
"""
