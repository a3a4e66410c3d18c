"""A DNS forwarder that blocks trackers and uncloaks CNAME-disguised ones (`trackguard dns`).

Read in this order:

- `packets.py`: strict reading of queries and upstream answers, the answers we make up.
  Pure (dnspython does the wire format).
- `decide.py`: a name is judged as the proxy judges a tunnel to that host, then every
  alias of the answer's CNAME chain is. Pure.
- `cache.py`: TTLs, negative caching, bounded size. Pure (the clock is passed in).
- `server.py`: UDP and TCP listeners and upstream queries. Moves packets; decides nothing.
- `service.py`: keeps the policy current while it runs (settings, lists).

Named `dnsserver` so it never shadows dnspython's top-level `dns` package.
"""
