"""CAP 1.2 (OASIS Common Alerting Protocol): county warnings taken in as announcements, and announcements given out.

In: `alert` reads one alert safely and checks it against the OASIS schema shipped beside it (cap12.xsd);
`mapping` turns its `<info>` into announcements by the deployment's settings; `intake` keeps every alert
taken in and applies it (new, revision, retraction) in one transaction; `refusals` names each reason an
alert is refused; `signature` verifies a signed alert (XMLDSig) and reads what was signed. The directories and
feeds alerts are fetched from are watched by the server (broadcast_server/cap_sources.py): I/O stays out of the
domain. Out: `export` writes an announcement as an alert.
"""
