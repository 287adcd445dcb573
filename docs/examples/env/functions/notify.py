import httpx

from livebase import AppError, action, v


@action(args={"text": v.string()})
async def post(ctx, text):
    """Post a message to a chat webhook, whose URL and token are secrets."""
    url = ctx.env.get("WEBHOOK_URL")
    if url is None:
        raise AppError({"code": "not_configured", "missing": "WEBHOOK_URL"})
    headers = {"Authorization": f"Bearer {ctx.env['WEBHOOK_TOKEN']}"}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json={"text": text}, headers=headers)
    return response.status_code
