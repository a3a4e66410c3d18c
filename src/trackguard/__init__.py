"""trackguard: tracking protection for everyone.

One engine for Tracking Protection Lists (IE9 `msFilterList`), EasyList/Adblock Plus
network filters and hosts files; a local protection proxy that enforces it and sends
DNT/GPC; list subscriptions that never lose a working list.
"""

__version__ = "0.1.0"
