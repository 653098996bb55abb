"""The request log: villagers' replies taken in with a ticket, worked through to the end, asked for feedback (回访).

One module per concern; import from the one you need:
- `tickets`: the ticket numbers a villager reads out over the phone.
- `text`: what villagers and staff may write into the log, and the phone number masked for export.
- `intake`: storing new requests in batches, idempotent by (screen, client_msg_id).
- `queries`: reading the log: one request, pages, filters, overdue, the API shape.
- `workflow`: the status rules (one step or several), staff changes and notes, villagers' feedback, telling the screen.
- `export`: the log as a CSV, Chinese by default, phones masked unless an admin asks.
- `sweep`: recording "no follow-up" on resolved requests nobody answered.
"""
