"""What `village-screen` says to a person, in Chinese (the default) or English: one catalogue, so no
English leaks onto a Chinese screen. Log lines for the technician stay English; they are not here.

The labels for priorities, categories and statuses are the kiosk's (static/kiosk/i18n), so a villager
reads the same word on the terminal and on the kiosk. A value from a newer server that has no label
is shown as it comes.
"""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_CATALOGUE: dict[str, dict[str, str]] = {
    "zh": {
        "title": "村务公告",
        "online": "在线",
        "offline": "离线",
        "last_seq": "最新序号 {seq}",
        "not_registered": "尚未在服务器登记",
        "no_announcements": "（暂无公告）",
        "emergency_banner": "！！！紧急公告！！！",
        "drill_banner": "！！！演练（不是真实紧急情况）！！！",
        "published": "发布于 {time}",
        "until": "有效至 {time}",
        "audio": "语音 {seconds} 秒",
        "images": "附图片 {n} 张",
        "live_call": "正在喊话：{caller}",
        "live_call_unnamed": "正在喊话",
        "priority.emergency": "紧急",
        "priority.high": "重要",
        "priority.normal": "通知",
        "priority.low": "提示",
        "category.suggestion": "建议",
        "category.complaint": "投诉",
        "category.help": "求助",
        "category.dispute": "纠纷",
        "category.question": "咨询",
        "category.other": "其他",
        "status.received": "已受理",
        "status.assigned": "已分派",
        "status.in_progress": "办理中",
        "status.resolved": "已办结",
        "status.closed": "已关闭",
        "status.rejected": "不予受理",
        "msg_id": "消息编号 {id}",
        "ticket": "受理编号 {ticket}",
        "queued.running": "已存入待发送队列：正在运行的 village-screen 会把它发出。",
        "queued.no_answer": "已存入待发送队列：服务器没有及时答复，`village-screen run` 会再次发送。",
        "queued.offline": "已存入待发送队列：`village-screen run` 连上服务器时发送（或加上 --server 和令牌立即发送）。",
        "refused": "服务器拒收了这条反映：{error}",
        "unauthorized": "服务器拒绝了本屏幕的令牌（令牌有误或已被吊销），请向县里的技术人员要一个新令牌。",
        "locked": "已有另一个 village-screen 在使用数据目录 {path}。",
        "token_required": "需要屏幕令牌：请用 --token 或环境变量 {env} 提供。",
        "bad_player": "--player 设置有误：找不到或不认识 {value}（可用 null、auto，或如 'mpg123 -q {{file}}' 的命令）",
        "bad_tz": "不认识的时区：{value}（例如 Asia/Shanghai）",
        "bad_server": "服务器地址有误：{value}（应形如 http://10.0.0.2:8080）",
        "bad_seconds": "不是秒数：{value}",
        "negative": "不能是负数",
        "screen": "屏幕：{id} · {area} · {kind}",
        "screen_unknown": "屏幕：尚未与服务器连接过",
        "kind.screen": "显示屏",
        "kind.speaker": "喇叭",
        "announcements_heading": "公告（{count} 条有效）：",
        "announcement_line": "  [{priority}] {title}（编号 {id} 第 {revision} 版 · 发布于 {published} · 有效至 {expires}{audio}）",
        "audio_url": " · 语音 {url}",
        "outbox_heading": "待发送的反映（{count} 条）：",
        "outbox_line": "  {id} {created} [{category}] {text} → {state}",
        "state.refused": "被拒收：{error}",
        "state.waiting": "等待发送",
        "state.sent": "已发送，等待受理编号",
        "answers_heading": "答复（{count} 条）：",
        "answer_line": "  受理编号 {ticket} · {status}{response}",
        "response": "：{text}",
        "none": "-",
    },
    "en": {
        "title": "Village broadcast",
        "online": "online",
        "offline": "OFFLINE",
        "last_seq": "last seq {seq}",
        "not_registered": "not yet registered with a server",
        "no_announcements": "(no announcements)",
        "emergency_banner": "!!! EMERGENCY !!!",
        "drill_banner": "!!! DRILL (not a real emergency) !!!",
        "published": "published {time}",
        "until": "until {time}",
        "audio": "audio {seconds} s",
        "images": "pictures: {n}",
        "live_call": "Live call: {caller} is speaking",
        "live_call_unnamed": "A live call is on",
        "priority.emergency": "emergency",
        "priority.high": "high",
        "priority.normal": "normal",
        "priority.low": "low",
        "category.suggestion": "suggestion",
        "category.complaint": "complaint",
        "category.help": "help",
        "category.dispute": "dispute",
        "category.question": "question",
        "category.other": "other",
        "status.received": "received",
        "status.assigned": "assigned",
        "status.in_progress": "in progress",
        "status.resolved": "resolved",
        "status.closed": "closed",
        "status.rejected": "rejected",
        "msg_id": "client_msg_id {id}",
        "ticket": "ticket {ticket}",
        "queued.running": "queued: the running village-screen will send it",
        "queued.no_answer": "queued: the server did not answer in time; `village-screen run` will send it again",
        "queued.offline": "queued: it is sent when `village-screen run` connects (or give --server and a token)",
        "refused": "the server refused the reply: {error}",
        "unauthorized": "the server refused this screen's token (wrong or revoked); ask the county IT for a new one",
        "locked": "another village-screen is running with --data-dir {path}",
        "token_required": "a screen token is required: --token or the environment variable {env}",
        "bad_player": "--player: {problem}",
        "bad_tz": "unknown time zone: {value} (e.g. Asia/Shanghai)",
        "bad_server": "{problem}",
        "bad_seconds": "not a number of seconds: {value}",
        "negative": "must not be negative",
        "screen": "screen: {id} · {area} · {kind}",
        "screen_unknown": "screen: not yet welcomed by a server",
        "kind.screen": "screen",
        "kind.speaker": "speaker",
        "announcements_heading": "announcements ({count} live):",
        "announcement_line": "  [{priority}] {title}  (id {id} rev {revision} · published {published} · until {expires}{audio})",
        "audio_url": " · audio {url}",
        "outbox_heading": "outbox ({count}):",
        "outbox_line": "  {id} {created} [{category}] {text} → {state}",
        "state.refused": "refused: {error}",
        "state.waiting": "waiting to be sent",
        "state.sent": "sent, waiting for a ticket",
        "answers_heading": "answers ({count}):",
        "answer_line": "  ticket {ticket} · {status}{response}",
        "response": ": {text}",
        "none": "-",
    },
}


class Words:
    """The catalogue in one language: `words("ticket", ticket="482-193")`, `words.label("status", "resolved")`."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        if language not in _CATALOGUE:
            raise ValueError(f"unknown language {language!r}: use {' or '.join(LANGUAGES)}")
        self.language = language
        self._entries = _CATALOGUE[language]

    def __call__(self, key: str, **fields: object) -> str:
        return self._entries[key].format(**fields)

    def label(self, group: str, value: str) -> str:
        """The word for an enum value (`priority`, `category`, `status`, `kind`), or the value itself if it is new."""
        return self._entries.get(f"{group}.{value}", str(value))
