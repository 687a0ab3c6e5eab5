"""The HTTP fault hop: an HTTP/1.1-aware relay that applies message-level faults by rule.

The harness puts it in front of a link (service → hop → Toxiproxy → peer) and drives it over a
small JSON API; see ``paychaos.faults._hop`` for the client and for starting the process::

    python -m paychaos.faults.httphop --port 0 --journal run/httphop.jsonl
    # prints "httphop listening on http://127.0.0.1:PORT", runs until SIGTERM

    POST /links                {"name": "gw_bank", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:8103"}
    POST /links/gw_bank/rules  {"id": "f1", "match": {"method": "POST", "path": "/debits*"},
                                "action": {"type": "lose_response"}, "select": {"every": 3}, "seed": 7}

Actions: ``delay`` (of the request or the response), ``abort`` (answer without forwarding),
``lose_request`` and ``lose_response`` (reset, or hold the connection silent), ``duplicate``
(extra copies upstream) and ``reorder`` (let later requests overtake). Each request a rule acts
on is one line in the journal.

Limits, on purpose: bodies are read whole, up to 8 MiB (a larger request gets 413 and its
connection closes); Upgrade and CONNECT requests get 501; a request is sent upstream re-framed
from its parts (``_http`` says exactly how); answers pass through byte for byte.
"""

from __future__ import annotations

from paychaos.faults.httphop._actions import ACTION_TYPES
from paychaos.faults.httphop._fields import RuleError
from paychaos.faults.httphop._http import MAX_REQUEST_BYTES
from paychaos.faults.httphop._rules import Rule, parse_rule
from paychaos.faults.httphop._server import HopServer, serve

__all__ = ["ACTION_TYPES", "MAX_REQUEST_BYTES", "HopServer", "Rule", "RuleError", "parse_rule", "serve"]
