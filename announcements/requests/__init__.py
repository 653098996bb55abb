"""The request log: villagers' replies taken in with a ticket, worked through to the end, asked for feedback (回访).

One module per concern; import from the one you need:
- `tickets`: the ticket numbers a villager reads out over the phone.
- `text`: what villagers and staff may write into the log, and the phone number masked for export.
- `intake`: storing new requests in batches, idempotent by (screen, client_msg_id).
- `queries`: reading the log: one request, pages, filters, overdue, the API shape.
- `workflow`: the status rules, staff changes, villagers' feedback, and telling the screen.
- `sweep`: recording "no follow-up" on resolved requests nobody answered.
"""
