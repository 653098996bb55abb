"""The pages are served with a strict Content-Security-Policy, and the QR endpoint makes SVG."""


async def test_pages_are_served_with_csp(village):
    """Console and kiosk pages load, and no inline script is allowed on them."""
    for path in ("/", "/screen"):
        async with village.http.get(village.url + path) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp


async def test_qr_code_is_svg_and_needs_a_token(village):
    """A committee member gets an SVG QR code; without a token it is 401."""
    async with village.http.post(village.url + "/api/v1/qr", json={"text": "http://x/screen#token=vb_abc"}, headers=village.auth()) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert (await resp.text()).startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    async with village.http.post(village.url + "/api/v1/qr", json={"text": "x"}) as resp:
        assert resp.status == 401
