"""A stateful local Graph API (the Page routes socialdesk calls through facebook-sdk) plus Meta webhook helpers.

It speaks the real shapes: JSON with a Content-Type on every answer, errors as
`{"error": {message, type, code, error_subcode, fbtrace_id}}`, `paging.next`
URLs that carry `access_token`, optional usage headers, and Meta's private-reply
rules (one per comment, within 7 days).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from bot.emulators.http import EmulatorServer, Reply, Request

GRAPH_HOST = "https://graph.facebook.com"
PRIVATE_REPLY_WINDOW = timedelta(days=7)
MESSAGING_WINDOW = timedelta(hours=24)
RATINGS_LAST_VERSION = 21  # Meta: Recommendation fields are deprecated from v22.0 (error 12)
MESSAGE_LIMIT = 2000

_ROUTES = [
    ("GET", r"/v\d+\.\d+/me", "me"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/feed", "feed"),
    ("POST", r"/v\d+\.\d+/(?P<id>[\w.-]+)/feed", "publish"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/comments", "comments"),
    ("POST", r"/v\d+\.\d+/(?P<id>[\w.-]+)/comments", "comment"),
    ("POST", r"/v\d+\.\d+/(?P<id>[\w.-]+)/messages", "messages"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/messages", "conversation_messages"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/ratings", "ratings"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/conversations", "conversations"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/media", "ig_media"),
    ("POST", r"/v\d+\.\d+/(?P<id>[\w.-]+)/replies", "ig_replies"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)/replies", "ig_comment_replies"),
    ("POST", r"/v\d+\.\d+/(?P<id>[\w.-]+)/mentions", "ig_mentions"),
    ("GET", r"/v\d+\.\d+/(?P<id>[\w.-]+)", "object"),
]
ALL_PERMISSIONS = frozenset({"pages_show_list", "pages_read_engagement", "pages_read_user_content",
                             "pages_manage_engagement", "pages_messaging", "pages_manage_posts",
                             "instagram_basic", "instagram_manage_comments", "instagram_manage_messages"})
IG_COMMENT_LIMIT = 2200
IG_MESSAGE_LIMIT = 1000
_FIELDS = {
    "page": {"id", "name", "link", "category", "fan_count"},
    "post": {"id", "message", "created_time", "updated_time", "from", "permalink_url", "can_reply_privately",
             "status_type", "is_published", "is_hidden", "comments"},
    "comment": {"id", "message", "created_time", "from", "parent", "permalink_url", "like_count", "comment_count",
                "can_reply_privately", "is_hidden", "object"},
    "rating": {"created_time", "recommendation_type", "review_text", "reviewer", "open_graph_story", "has_rating",
               "has_review", "rating"},
    "conversation": {"id", "updated_time", "link", "message_count", "participants", "messages"},
    "message": {"id", "message", "created_time", "from", "to"},
    "user": {"id", "name", "first_name", "last_name"},
}
_NODE_TYPE = {"page": "Page", "post": "Post", "comment": "Comment", "rating": "Recommendation",
              "conversation": "Conversation", "message": "Message", "user": "User"}


def graph_time(moment: datetime) -> str:
    """Graph's timestamp format: `2025-03-22T18:20:04+0000`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _now() -> datetime:
    return datetime.fromtimestamp(int(time.time()), timezone.utc)


def _parse_time(value: str | int | float | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_fields(spec: str) -> dict[str, dict | None]:
    """`id,from{id,name},comments.limit(5){id}` -> {"id": None, "from": {...}, "comments": {...}}; modifiers ignored."""
    parts, buf, depth = [], "", 0
    for ch in spec:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    out: dict[str, dict | None] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        match = re.fullmatch(r"([a-z_]+)((?:\.[a-z_]+\([^)]*\))*)(?:\{(.*)\})?", part, re.S)
        if not match:
            raise ValueError(part)
        out[match.group(1)] = parse_fields(match.group(3)) if match.group(3) is not None else None
    return out


def _base62(n: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = alphabet[r] + out
    return out[:11] or "0"


def error_body(code: int, message: str, *, type_: str = "OAuthException", subcode: int | None = None,
               transient: bool | None = None, trace: str = "AbCdEfGhIjK") -> dict:
    """Graph's error JSON."""
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = trace
    return {"error": error}


RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
}


def webhook_body(payload: dict) -> bytes:
    """Serialise like Meta: compact, escaped unicode (lowercase hex) and escaped slashes."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def sign_webhook(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` header Meta puts on webhook POSTs."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign_webhook(app_secret, body),
        "X-Hub-Signature": "sha1=" + hmac.new(app_secret.encode(), body, hashlib.sha1).hexdigest(),
    }


class GraphEmulator(EmulatorServer):
    """One Page, its posts, comments, ratings and Messenger conversations, behind Graph API routes."""

    def __init__(self, page_id: str = "448242228374517", page_name: str = "Acme",
                 page_token: str = "emulated-page-token-0001", app_secret: str = "graph-app-secret",
                 verify_token: str = "graph-verify-token", ig_account_id: str = "17841400008460056",
                 ig_username: str = "acme") -> None:
        super().__init__()
        self.ig_account_id = ig_account_id  # the Instagram professional account linked to the Page
        self.ig_username = ig_username
        self.page_id = page_id
        self.page_name = page_name
        self.page_token = page_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self._reset_state()

    def _reset_state(self) -> None:
        self._ids = itertools.count(1)
        self._traces = itertools.count(1)
        self._users: dict[str, dict] = {self.page_id: {"id": self.page_id, "name": self.page_name}}
        self._posts: dict[str, dict] = {}
        self._comments: dict[str, dict] = {}
        self._ratings: list[dict] = []
        self._conversations: dict[str, dict] = {}  # psid -> conversation
        self._private_replies: list[dict] = []
        self._sent_messages: list[dict] = []
        self.permissions: set[str] = set(ALL_PERMISSIONS)
        self._ig_users: dict[str, str] = {self.ig_account_id: self.ig_username}  # id -> username
        self._ig_media: dict[str, dict] = {}
        self._ig_comments: dict[str, dict] = {}
        self._ig_private_replies: list[dict] = []
        self._ig_mention_replies: list[dict] = []
        self.token_state = "valid"  # valid | expired | revoked
        self.require_proof = False
        self.usage: dict[str, Any] = {}

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self._reset_state()

    # -- seeding -----------------------------------------------------------
    def _new_id(self) -> str:
        return str(100000000000000 + next(self._ids) * 7919)

    def add_user(self, name: str, id: str | None = None) -> str:
        with self._lock:
            user_id = id or self._new_id()
            first, _, last = name.partition(" ")
            self._users[user_id] = {"id": user_id, "name": name, "first_name": first, "last_name": last}
            return user_id

    def add_post(self, message: str, author_id: str | None = None, *, created_at: datetime | str | None = None) -> str:
        """A post on the Page: by the Page itself (default) or by a visitor."""
        with self._lock:
            author = author_id or self.page_id
            if author not in self._users:
                raise ValueError(f"unknown author {author!r}: add_user() first")
            local = self._new_id()
            post_id = f"{self.page_id}_{local}"
            created = _parse_time(created_at) if created_at else _now()
            self._posts[post_id] = {"id": post_id, "local": local, "message": message, "from": author,
                                    "created": created, "updated": created, "deleted": False, "hidden": False,
                                    "privately_replied": False}
            return post_id

    def add_comment(self, target_id: str, message: str, author_id: str, *,
                    created_at: datetime | str | None = None) -> str:
        """A comment on a post, or a reply to a comment (Facebook keeps replies one level deep)."""
        with self._lock:
            if author_id not in self._users:
                raise ValueError(f"unknown author {author_id!r}: add_user() first")
            parent = self._comments.get(target_id)
            if parent is not None and parent["parent"]:
                parent = self._comments[parent["parent"]]
            post = self._posts[parent["post"] if parent else target_id]
            comment_id = f"{post['local']}_{self._new_id()}"
            created = _parse_time(created_at) if created_at else _now()
            self._comments[comment_id] = {"id": comment_id, "post": post["id"], "parent": parent["id"] if parent else None,
                                          "message": message, "from": author_id, "created": created,
                                          "deleted": False, "hidden": False, "privately_replied": False, "likes": 0}
            post["updated"] = max(post["updated"], created)
            return comment_id

    def add_rating(self, reviewer_id: str, text: str, *, recommendation: str = "negative",
                   created_at: datetime | str | None = None) -> str:
        """A Page recommendation; returns the id of its open_graph_story (what a reply comments on)."""
        with self._lock:
            story = f"{self.page_id}_{self._new_id()}"
            created = _parse_time(created_at) if created_at else _now()
            self._ratings.append({"story": story, "reviewer": reviewer_id, "text": text,
                                  "recommendation": recommendation, "created": created})
            self._posts[story] = {"id": story, "local": story.split("_")[1], "message": text, "from": reviewer_id,
                                  "created": created, "updated": created, "deleted": False, "hidden": False,
                                  "privately_replied": True, "rating": True}
            return story

    def add_message(self, sender_id: str, text: str, *, created_at: datetime | str | None = None) -> str:
        """A Messenger message from a person to the Page; returns its mid."""
        with self._lock:
            conversation = self._conversation(sender_id)
            mid = "m_" + base64.urlsafe_b64encode(f"mid.{self._new_id()}".encode()).decode().rstrip("=")
            created = _parse_time(created_at) if created_at else _now()
            conversation["messages"].append({"id": mid, "message": text, "from": sender_id, "to": self.page_id,
                                             "created": created})
            conversation["updated"] = created
            return mid

    def _conversation(self, psid: str) -> dict:
        if psid not in self._conversations:
            self._conversations[psid] = {"id": "t_" + self._new_id(), "psid": psid, "messages": [], "updated": _now()}
        return self._conversations[psid]

    def delete_comment(self, comment_id: str) -> None:
        with self._lock:
            self._comments[comment_id]["deleted"] = True

    def hide_comment(self, comment_id: str, hidden: bool = True) -> None:
        with self._lock:
            self._comments[comment_id]["hidden"] = hidden

    def expire_token(self, state: str = "expired") -> None:
        """Make the Page token fail with code 190 ("expired" or "revoked"); "valid" restores it."""
        with self._lock:
            self.token_state = state

    def set_usage(self, call_count: int, *, business: bool = True, regain_minutes: int = 0) -> None:
        """Send X-App-Usage (and X-Business-Use-Case-Usage) at this percentage on every answer."""
        with self._lock:
            self.usage = {"call_count": call_count, "business": business, "regain": regain_minutes}

    def rate_limit(self, route: str, code: int = 4, times: int = 1) -> None:
        """Answer the next `times` calls of `route` with a rate-limit error of this code."""
        self.fail(route, status=400, body=error_body(code, RATE_LIMIT_MESSAGES[code], transient=True), times=times)

    # -- inspection --------------------------------------------------------
    def replies_to(self, comment_or_post_id: str) -> list[dict]:
        """Comments the Page wrote in answer to this comment or post, oldest first."""
        with self._lock:
            mine = [c for c in self._comments.values()
                    if c["from"] == self.page_id and not c["deleted"] and c.get("reply_to") == comment_or_post_id]
            return [self._render_comment(c, None) for c in sorted(mine, key=lambda c: (c["created"], c["id"]))]

    @property
    def private_replies(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._private_replies)

    @property
    def sent_messages(self) -> list[dict]:
        """Every message the Page sent through the Send API (private replies included)."""
        with self._lock:
            return copy.deepcopy(self._sent_messages)

    def feed(self) -> list[dict]:
        """The Page's posts, newest first, each with its visible comments oldest first: what the demo page shows."""
        with self._lock:
            def who(user_id: str) -> dict:
                return {"id": user_id, "name": self._users.get(user_id, {}).get("name", user_id),
                        "is_page": user_id == self.page_id}

            posts = []
            for post in sorted(self._posts.values(), key=lambda p: (p["created"], p["id"]), reverse=True):
                if post["deleted"]:
                    continue
                comments = sorted((c for c in self._comments.values() if c["post"] == post["id"] and not c["deleted"]),
                                  key=lambda c: (c["created"], c["id"]))
                posts.append({"id": post["id"], "message": post["message"], "created_time": graph_time(post["created"]),
                              "from": who(post["from"]), "rating": bool(post.get("rating")),
                              "comments": [{"id": c["id"], "message": c["message"], "parent": c["parent"],
                                            "reply_to": c.get("reply_to"), "hidden": c["hidden"],
                                            "created_time": graph_time(c["created"]), "from": who(c["from"])}
                                           for c in comments]})
            return posts

    def comment(self, comment_id: str) -> dict:
        with self._lock:
            return self._render_comment(self._comments[comment_id], None)

    # -- webhook payloads (what Meta would POST to us) ---------------------
    def _entry(self, changes: list[dict] | None = None, messaging: list[dict] | None = None) -> dict:
        entry: dict[str, Any] = {"id": self.page_id, "time": int(time.time())}
        if changes is not None:
            entry["changes"] = changes
        if messaging is not None:
            entry["messaging"] = messaging
        return entry

    def comment_change(self, comment_id: str, verb: str = "add") -> dict:
        """The `feed` change Meta sends for a comment (`verb`: add, edited, remove, hide, unhide)."""
        with self._lock:
            comment = self._comments[comment_id]
            post = self._posts[comment["post"]]
            value: dict[str, Any] = {
                "from": self._render_user(comment["from"]),
                "post": {"status_type": "mobile_status_update", "is_published": True,
                         "updated_time": graph_time(post["updated"]), "promotion_status": "inactive",
                         "id": post["id"]},
                "post_id": post["id"], "comment_id": comment_id, "created_time": int(comment["created"].timestamp()),
                "item": "comment", "parent_id": comment["parent"] or post["id"], "verb": verb,
            }
            if verb in ("add", "edited"):
                value["message"] = comment["message"]
            return {"field": "feed", "value": value}

    def post_change(self, post_id: str, verb: str = "add") -> dict:
        with self._lock:
            post = self._posts[post_id]
            value = {"from": self._render_user(post["from"]), "post_id": post_id, "verb": verb, "item": "status",
                     "created_time": int(post["created"].timestamp()), "published": 1}
            if verb == "add":
                value["message"] = post["message"]
            return {"field": "feed", "value": value}

    def rating_change(self, story_id: str) -> dict:
        with self._lock:
            rating = next(r for r in self._ratings if r["story"] == story_id)
            reviewer = self._users[rating["reviewer"]]
            return {"field": "ratings", "value": {
                "item": "rating", "verb": "add", "reviewer_id": reviewer["id"], "reviewer_name": reviewer["name"],
                "review_text": rating["text"], "recommendation_type": rating["recommendation"],
                "open_graph_story_id": story_id, "created_time": int(rating["created"].timestamp())}}

    def message_event(self, mid: str) -> dict:
        with self._lock:
            for conversation in self._conversations.values():
                for message in conversation["messages"]:
                    if message["id"] == mid:
                        stamp = int(message["created"].timestamp() * 1000)
                        return {"sender": {"id": message["from"]}, "recipient": {"id": message["to"]},
                                "timestamp": stamp, "message": {"mid": mid, "text": message["message"]}}
        raise KeyError(mid)

    def webhook(self, *changes: dict, messaging: list[dict] | None = None) -> dict:
        """A delivery with these changes (and/or messaging events) in one Page entry."""
        entry = self._entry(list(changes) if changes else None, messaging)
        return {"object": "page", "entry": [entry]}

    # -- Instagram (the professional account linked to the Page) -----------
    def add_ig_user(self, username: str, id: str | None = None) -> str:
        with self._lock:
            user_id = id or str(17841400000000000 + next(self._ids))
            self._ig_users[user_id] = username
            return user_id

    def add_ig_media(self, caption: str, owner_id: str | None = None, *, live: bool = False,
                     created_at: datetime | str | None = None, id: str | None = None) -> str:
        """A post on Instagram: the brand's own (default) or someone else's (where a comment may mention us)."""
        with self._lock:
            media_id = id or str(17900000000000000 + next(self._ids))
            owner = owner_id or self.ig_account_id
            self._ig_media[media_id] = {
                "id": media_id, "caption": caption, "owner": owner,
                "permalink": f"https://www.instagram.com/p/{_base62(int(media_id))}/",
                "created": _parse_time(created_at) if created_at else _now(),
                "product": "LIVE" if live else "FEED"}
            return media_id

    def add_ig_comment(self, media_id: str, text: str, author_id: str, *, parent_id: str | None = None,
                       created_at: datetime | str | None = None, id: str | None = None) -> str:
        with self._lock:
            if author_id not in self._ig_users:
                raise ValueError(f"unknown Instagram user {author_id!r}: add_ig_user() first")
            if parent_id and self._ig_comments[parent_id]["parent"]:
                parent_id = self._ig_comments[parent_id]["parent"]  # one level deep, as Instagram keeps them
            comment_id = id or str(17850000000000000 + next(self._ids))
            self._ig_comments[comment_id] = {
                "id": comment_id, "media": media_id, "text": text, "from": author_id, "parent": parent_id,
                "created": _parse_time(created_at) if created_at else _now(), "hidden": False,
                "privately_replied": False}
            return comment_id

    def ig_replies_to(self, comment_id: str) -> list[dict]:
        with self._lock:
            return [self._render_ig_comment(c, None) for c in self._ig_comments.values() if c["parent"] == comment_id
                    and c["from"] == self.ig_account_id]

    @property
    def ig_private_replies(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._ig_private_replies)

    @property
    def ig_mention_replies(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._ig_mention_replies)

    def ig_comment_change(self, comment_id: str, *, minimal: bool = False) -> dict:
        """The `comments` (or `live_comments`) change Meta sends; `minimal` is the older shape with only id and text."""
        with self._lock:
            comment = self._ig_comments[comment_id]
            media = self._ig_media[comment["media"]]
            value: dict[str, Any] = {"id": comment_id, "text": comment["text"]}
            if not minimal:
                value["from"] = {"id": comment["from"], "username": self._ig_users[comment["from"]]}
                value["media"] = {"id": media["id"], "media_product_type": media["product"]}
                if comment["parent"]:
                    value["parent_id"] = comment["parent"]
            return {"field": "live_comments" if media["product"] == "LIVE" else "comments", "value": value}

    def ig_mention_change(self, comment_id: str) -> dict:
        with self._lock:
            return {"field": "mentions", "value": {"comment_id": comment_id,
                                                   "media_id": self._ig_comments[comment_id]["media"]}}

    def ig_webhook(self, *changes: dict) -> dict:
        return {"object": "instagram", "entry": [{"id": self.ig_account_id, "time": int(time.time()),
                                                   "changes": list(changes)}]}

    def _is_ig(self, id: str) -> bool:
        return id == self.ig_account_id or id in self._ig_media or id in self._ig_comments

    def _render_ig_comment(self, comment: dict, fields: dict | None) -> dict:
        wanted = fields or {"id": None, "text": None, "timestamp": None}
        media = self._ig_media[comment["media"]]
        full = {"id": comment["id"], "text": comment["text"], "timestamp": graph_time(comment["created"]),
                "username": self._ig_users[comment["from"]], "hidden": comment["hidden"], "like_count": 0,
                "from": {"id": comment["from"], "username": self._ig_users[comment["from"]]},
                "media": {"id": media["id"], "permalink": media["permalink"], "caption": media["caption"],
                          "media_product_type": media["product"]}}
        if comment["parent"]:
            full["parent_id"] = comment["parent"]
        out = {}
        for name, sub in wanted.items():
            if name in full:
                value = full[name]
                out[name] = {k: v for k, v in value.items() if k in sub} if isinstance(value, dict) and sub else value
        return out

    def _render_ig_media(self, media: dict, fields: dict | None) -> dict:
        full = {"id": media["id"], "caption": media["caption"], "permalink": media["permalink"],
                "timestamp": graph_time(media["created"]), "media_product_type": media["product"],
                "comments_count": sum(1 for c in self._ig_comments.values() if c["media"] == media["id"])}
        return {k: full[k] for k in (fields or {"id": None}) if k in full}

    def _ig_object(self, params: dict, fields: dict | None, id: str) -> Reply:
        if "instagram_basic" not in self.permissions:
            return self._need("instagram_basic", 10)
        if id in self._ig_comments:
            return 200, {}, self._render_ig_comment(self._ig_comments[id], fields)
        if id in self._ig_media:
            return 200, {}, self._render_ig_media(self._ig_media[id], fields)
        out: dict[str, Any] = {"id": id}
        if fields and "username" in fields:
            out["username"] = self.ig_username
        if fields and "mentioned_comment" in fields:
            wanted = re.search(r"mentioned_comment\.comment_id\((\d+)\)", params.get("fields", ""))
            comment = self._ig_comments.get(wanted.group(1)) if wanted else None
            if comment is None or self._ig_media[comment["media"]]["owner"] == self.ig_account_id:
                return self._error(400, 100, "(#100) Invalid parameter", subcode=2108006)
            out["mentioned_comment"] = self._render_ig_comment(comment, fields["mentioned_comment"])
        return 200, {}, out

    def _route_ig_media(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id != self.ig_account_id:
            return self._unsupported(id)
        if "instagram_basic" not in self.permissions:
            return self._need("instagram_basic", 10)
        media = sorted((m for m in self._ig_media.values() if m["owner"] == id), key=lambda m: m["created"], reverse=True)
        return self._page(request, params, media, lambda m: self._render_ig_media(m, fields))

    def _ig_comments_of(self, request: Request, params: dict, fields: dict | None, id: str) -> Reply:
        if "instagram_manage_comments" not in self.permissions:
            return self._need("instagram_manage_comments", 10)
        comments = [c for c in self._ig_comments.values() if c["media"] == id and c["parent"] is None]
        comments.sort(key=lambda c: (c["created"], c["id"]), reverse=True)
        return self._page(request, params, comments, lambda c: self._render_ig_comment(c, fields))

    def _route_ig_replies(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        comment = self._ig_comments.get(id)
        if comment is None:
            return self._unsupported(id)
        if "instagram_manage_comments" not in self.permissions:
            return self._need("instagram_manage_comments", 10)
        message = (params.get("message") or "").strip()
        if not message:
            return self._error(400, 100, "(#100) The parameter message is required")
        if len(message) > IG_COMMENT_LIMIT:
            return self._error(400, 100, "(#100) Message is too long")
        if self._ig_media[comment["media"]]["product"] == "LIVE":
            return self._error(400, 100, "(#100) Replies to live video comments are not supported")
        reply_id = self.add_ig_comment(comment["media"], message, self.ig_account_id, parent_id=id)
        return 200, {}, {"id": reply_id}

    def _route_ig_comment_replies(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        """The replies under a comment on the account's media, oldest first (Instagram keeps them one level deep)."""
        comment = self._ig_comments.get(id)
        if comment is None or self._ig_media[comment["media"]]["owner"] != self.ig_account_id:
            return self._unsupported(id)
        if "instagram_manage_comments" not in self.permissions:
            return self._need("instagram_manage_comments", 10)
        replies = sorted((c for c in self._ig_comments.values() if c["parent"] == id), key=lambda c: (c["created"], c["id"]))
        return self._page(request, params, replies, lambda c: self._render_ig_comment(c, fields))

    def _route_ig_mentions(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id != self.ig_account_id:
            return self._unsupported(id)
        if "instagram_manage_comments" not in self.permissions:
            return self._need("instagram_manage_comments", 10)
        comment = self._ig_comments.get(params.get("comment_id", ""))
        if comment is None or comment["media"] != params.get("media_id"):
            return self._error(400, 100, "(#100) Invalid parameter", subcode=2108006)
        message = (params.get("message") or "").strip()
        if not message:
            return self._error(400, 100, "(#100) The parameter message is required")
        reply_id = self.add_ig_comment(comment["media"], message, self.ig_account_id, parent_id=comment["id"])
        self._ig_mention_replies.append({"comment_id": comment["id"], "media_id": comment["media"], "message": message,
                                         "id": reply_id})
        return 200, {}, {"id": reply_id}

    def _ig_private_reply(self, params: dict) -> Reply:
        if "instagram_manage_messages" not in self.permissions:
            return self._need("instagram_manage_messages", 10)
        try:
            recipient = json.loads(params.get("recipient") or "null")
            message = json.loads(params.get("message") or "null")
        except ValueError:
            return self._error(400, 100, "(#100) param recipient must be a JSON object")
        comment = self._ig_comments.get(str((recipient or {}).get("comment_id", "")))
        if comment is None:
            return self._error(400, 100, "(#100) No matching user found", subcode=2534014)
        text = (message or {}).get("text") or ""
        if not text.strip() or len(text) > IG_MESSAGE_LIMIT:
            return self._error(400, 100, "(#100) The parameter message is required and at most 1000 characters")
        if comment["privately_replied"]:
            return self._error(400, 10900, "Activity already replied to")
        if _now() - comment["created"] > PRIVATE_REPLY_WINDOW:
            return self._error(400, 10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
        comment["privately_replied"] = True
        mid = "aWdfZAG1f" + base64.urlsafe_b64encode(f"ig.{self._new_id()}".encode()).decode().rstrip("=")
        self._ig_private_replies.append({"comment_id": comment["id"], "text": text, "message_id": mid})
        return 200, {}, {"recipient_id": comment["from"], "message_id": mid}

    # -- HTTP plumbing -----------------------------------------------------
    def route(self, method: str, path: str) -> str | None:
        return next((name for verb, pattern, name in _ROUTES if verb == method and re.fullmatch(pattern, path)), None)

    def _trace(self) -> str:
        return f"A{next(self._traces):010d}"

    def _error(self, status: int, code: int, message: str, **kwargs: Any) -> Reply:
        return status, {}, error_body(code, message, trace=self._trace(), **kwargs)

    def _usage_headers(self) -> dict[str, str]:
        if not self.usage:
            return {}
        pct = self.usage["call_count"]
        headers = {"X-App-Usage": json.dumps({"call_count": pct, "total_time": pct // 2, "total_cputime": pct // 3})}
        if self.usage["business"]:
            headers["X-Business-Use-Case-Usage"] = json.dumps({self.page_id: [{
                "type": "pages", "call_count": pct, "total_cputime": pct // 3, "total_time": pct // 2,
                "estimated_time_to_regain_access": self.usage["regain"]}]})
        return headers

    def fault_reply(self, request: Request, status: int, body: Any, headers: dict[str, str]) -> Reply:
        if body is None:
            if status >= 500:
                body = error_body(1, "An unknown error occurred", transient=True, trace=self._trace())
            elif status == 429:  # Graph says "slow down" with a rate-limit code, not a bare 429
                body = error_body(4, RATE_LIMIT_MESSAGES[4], trace=self._trace())
            else:
                body = error_body(100, "(#100) Invalid parameter", trace=self._trace())
        return status, {**self._usage_headers(), **headers}, body

    def handle(self, request: Request) -> Reply:
        status, headers, body = self._answer(request)
        return status, {**self._usage_headers(), **headers}, body

    def _params(self, request: Request) -> dict[str, str]:
        params = dict(request.query)
        if isinstance(request.parsed, dict):
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in request.parsed.items()})
        return params

    def _answer(self, request: Request) -> Reply:
        params = self._params(request)
        token = params.get("access_token")
        if not token:
            return self._error(400, 104, "An access token is required to request this resource.")
        if token != self.page_token:
            return self._error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.token_state == "expired":
            return self._error(400, 190, "Error validating access token: Session has expired on Friday, "
                                         "21-Mar-25 10:00:00 PDT. The current time is later.", subcode=463)
        if self.token_state == "revoked":
            return self._error(400, 190, "Error validating access token: The session has been invalidated because "
                                         "the user changed their password or Facebook has changed the session for "
                                         "security reasons.", subcode=460)
        proof = params.get("appsecret_proof")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if (proof is not None and proof != expected) or (proof is None and self.require_proof):
            return self._error(400, 100, "Invalid appsecret_proof provided in the API argument", type_="GraphMethodException")
        if request.route is None:
            return self._error(400, 2500, f"Unknown path components: {request.path}")
        version = int(request.path.split("/")[1][1:].split(".")[0])
        match = next(re.fullmatch(p, request.path) for v, p, n in _ROUTES if n == request.route and v == request.method)
        try:
            fields = parse_fields(params["fields"]) if "fields" in params else None
        except ValueError as exc:
            return self._error(400, 100, f"Syntax error \"Expected end of string instead of \"{exc}\".\" at character 0")
        return getattr(self, "_route_" + request.route)(request, params, fields, version=version, **match.groupdict())

    # -- rendering ---------------------------------------------------------
    def _check_fields(self, kind: str, fields: dict | None) -> Reply | None:
        for name in fields or {}:
            if name not in _FIELDS[kind]:
                return self._error(400, 100, f"(#100) Tried accessing nonexisting field ({name}) on node type "
                                             f"({_NODE_TYPE[kind]})")
        return None

    def _render_user(self, user_id: str, fields: dict | None = None) -> dict:
        user = self._users.get(user_id, {"id": user_id, "name": "Facebook user"})
        wanted = fields or {"id": None, "name": None}
        return {k: user[k] for k in wanted if k in user}

    def _permalink(self, post: dict, comment: dict | None = None) -> str:
        url = f"https://www.facebook.com/{self.page_id}/posts/{post['local']}/"
        if comment is not None:
            url += f"?comment_id={comment['id'].split('_')[1]}"
        return url

    def _can_reply_privately(self, item: dict) -> bool:
        return (not item["privately_replied"] and not item["deleted"] and item["from"] != self.page_id
                and _now() - item["created"] <= PRIVATE_REPLY_WINDOW)

    def _render_post(self, post: dict, fields: dict | None) -> dict:
        wanted = fields or {"created_time": None, "message": None, "id": None}
        out: dict[str, Any] = {}
        for name, sub in wanted.items():
            if name == "id":
                out["id"] = post["id"]
            elif name == "message" and post["message"]:
                out["message"] = post["message"]
            elif name == "created_time":
                out["created_time"] = graph_time(post["created"])
            elif name == "updated_time":
                out["updated_time"] = graph_time(post["updated"])
            elif name == "from":
                out["from"] = self._render_user(post["from"], sub)
            elif name == "permalink_url":
                out["permalink_url"] = self._permalink(post)
            elif name == "can_reply_privately":
                out["can_reply_privately"] = self._can_reply_privately(post)
            elif name == "status_type":
                out["status_type"] = "mobile_status_update"
            elif name == "is_published":
                out["is_published"] = True
            elif name == "is_hidden":
                out["is_hidden"] = post["hidden"]
        return out

    def _render_comment(self, comment: dict, fields: dict | None) -> dict:
        wanted = fields or {"created_time": None, "from": None, "message": None, "id": None}
        post = self._posts[comment["post"]]
        out: dict[str, Any] = {}
        for name, sub in wanted.items():
            if name == "id":
                out["id"] = comment["id"]
            elif name == "message":
                out["message"] = comment["message"]
            elif name == "created_time":
                out["created_time"] = graph_time(comment["created"])
            elif name == "from" and "pages_read_user_content" in self.permissions:
                out["from"] = self._render_user(comment["from"], sub)
            elif name == "parent" and comment["parent"]:
                parent = self._comments[comment["parent"]]
                out["parent"] = {k: v for k, v in {"id": parent["id"], "message": parent["message"],
                                                   "created_time": graph_time(parent["created"])}.items()
                                 if k in (sub or {"id": None, "message": None, "created_time": None})}
            elif name == "object":
                out["object"] = {"id": post["id"]}
            elif name == "permalink_url":
                out["permalink_url"] = self._permalink(post, comment)
            elif name == "like_count":
                out["like_count"] = comment["likes"]
            elif name == "comment_count":
                out["comment_count"] = sum(1 for c in self._comments.values()
                                           if c["parent"] == comment["id"] and not c["deleted"])
            elif name == "can_reply_privately":
                out["can_reply_privately"] = self._can_reply_privately(comment)
            elif name == "is_hidden":
                out["is_hidden"] = comment["hidden"]
        return out

    def _page(self, request: Request, params: dict[str, str], items: list[dict], render, *,
              default_limit: int = 25, extra: dict | None = None) -> Reply:
        """Cursor paging as Graph does it: `after` cursors and a `next` URL that carries the access token."""
        try:
            limit = max(1, min(100, int(params.get("limit", default_limit))))
        except ValueError:
            return self._error(400, 100, "(#100) Param limit must be a number")
        start = 0
        after = params.get("after")
        if after:
            try:
                start = int(base64.b64decode(after).decode())
            except (ValueError, UnicodeDecodeError):
                return self._error(400, 100, "(#100) The after cursor is invalid")
        chunk = items[start:start + limit]
        body: dict[str, Any] = {"data": [render(item) for item in chunk]}
        if chunk:
            paging: dict[str, Any] = {"cursors": {"before": base64.b64encode(str(start).encode()).decode(),
                                                  "after": base64.b64encode(str(start + len(chunk)).encode()).decode()}}
            if start + len(chunk) < len(items):
                query = {k: v for k, v in request.query.items() if k != "after"}
                query["after"] = paging["cursors"]["after"]
                paging["next"] = f"{GRAPH_HOST}{request.path}?{urlencode(query)}"
            body["paging"] = paging
        if extra:
            body.update(extra)
        return 200, {}, body

    def _window(self, params: dict[str, str], items: list[dict]) -> list[dict]:
        since = _parse_time(params["since"]) if params.get("since") else None
        until = _parse_time(params["until"]) if params.get("until") else None
        return [i for i in items if (since is None or i["created"] >= since) and (until is None or i["created"] <= until)]

    def _unsupported(self, id: str) -> Reply:
        return self._error(400, 100, f"Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded "
                                     "due to missing permissions, or does not support this operation. Please read the "
                                     "Graph API documentation at https://developers.facebook.com/docs/graph-api",
                           type_="GraphMethodException", subcode=33)

    def _need(self, permission: str, code: int = 200) -> Reply | None:
        if permission in self.permissions:
            return None
        return self._error(403 if code == 200 else 400, code,
                           f"(#{code}) Requires {permission} permission to manage the object")

    # -- routes ------------------------------------------------------------
    def _route_me(self, request: Request, params: dict, fields: dict | None, *, version: int) -> Reply:
        return self._route_object(request, params, fields, version=version, id=self.page_id)

    def _route_object(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if self._is_ig(id):
            return self._ig_object(params, fields, id)
        if id in (self.page_id, "me"):
            problem = self._check_fields("page", fields)
            if problem:
                return problem
            page = {"id": self.page_id, "name": self.page_name, "link": f"https://www.facebook.com/{self.page_id}",
                    "category": "Retail company", "fan_count": 1200}
            return 200, {}, {k: page[k] for k in (fields or {"name": None, "id": None})}
        if id in self._comments and not self._comments[id]["deleted"]:
            return self._check_fields("comment", fields) or (200, {}, self._render_comment(self._comments[id], fields))
        if id in self._posts and not self._posts[id]["deleted"]:
            return self._check_fields("post", fields) or (200, {}, self._render_post(self._posts[id], fields))
        if id in self._users:
            if "pages_messaging" not in self.permissions:
                return self._need("pages_messaging", 230)
            return self._check_fields("user", fields) or (200, {}, self._render_user(id, fields or {"id": None, "name": None}))
        return self._unsupported(id)

    def _route_feed(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id != self.page_id:
            return self._unsupported(id)
        if "pages_read_engagement" not in self.permissions:
            return self._error(400, 10, "(#10) This endpoint requires the 'pages_read_engagement' permission or the "
                                        "'Page Public Content Access' feature.")
        problem = self._check_fields("post", fields)
        if problem:
            return problem
        posts = [p for p in self._posts.values() if not p["deleted"] and not p.get("rating")]
        posts = sorted(self._window(params, posts), key=lambda p: (p["created"], p["id"]), reverse=True)
        return self._page(request, params, posts, lambda p: self._render_post(p, fields))

    def _route_comments(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id in self._ig_media:
            return self._ig_comments_of(request, params, fields, id)
        problem = self._check_fields("comment", fields)
        if problem:
            return problem
        if "pages_read_engagement" not in self.permissions:
            return self._error(400, 10, "(#10) This endpoint requires the 'pages_read_engagement' permission or the "
                                        "'Page Public Content Access' feature.")
        if "pages_read_user_content" not in self.permissions:
            return self._error(400, 283, "(#283) Requires pages_read_user_content permission")
        comments = [c for c in self._comments.values() if not c["deleted"]]
        if id in self._posts and not self._posts[id]["deleted"]:
            comments = [c for c in comments if c["post"] == id]
            if params.get("filter", "toplevel") != "stream":
                comments = [c for c in comments if c["parent"] is None]
        elif id in self._comments and not self._comments[id]["deleted"]:
            comments = [c for c in comments if c["parent"] == id]
        else:
            return self._unsupported(id)
        order = params.get("order", "chronological")
        if order not in ("chronological", "reverse_chronological"):
            return self._error(400, 100, "(#100) order must be one of the following values: chronological, "
                                         "reverse_chronological")
        comments = sorted(self._window(params, comments), key=lambda c: (c["created"], c["id"]),
                          reverse=order == "reverse_chronological")
        extra = None
        if params.get("summary") in ("true", "1"):
            extra = {"summary": {"order": order, "total_count": len(comments), "can_comment": True}}
        return self._page(request, params, comments, lambda c: self._render_comment(c, fields), extra=extra)

    def _route_publish(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        """A post on the Page's own timeline (a status update), as the Page."""
        if id != self.page_id:
            return self._unsupported(id)
        problem = self._need("pages_manage_posts")
        if problem:
            return problem
        message = (params.get("message") or "").strip()
        if not message:
            return self._error(400, 100, "(#100) Missing message or attachment")
        return 200, {}, {"id": self.add_post(message)}

    def _route_comment(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        problem = self._need("pages_manage_engagement")
        if problem:
            return problem
        message = (params.get("message") or "").strip()
        if not message and not params.get("attachment_url"):
            return self._error(400, 100, "(#100) Missing message or attachment")
        if len(message) > 8000:
            return self._error(400, 100, "(#100) Message is too long")
        target = self._comments.get(id)
        post = self._posts.get(target["post"] if target else id)
        if post is None or post["deleted"] or (target is not None and target["deleted"]):
            return self._unsupported(id)
        new_id = self.add_comment(id, message, self.page_id)
        self._comments[new_id]["reply_to"] = id
        return 200, {}, {"id": new_id}

    def _route_messages(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id == self.ig_account_id:
            return self._ig_private_reply(params)
        if id not in (self.page_id, "me"):
            return self._unsupported(id)
        problem = self._need("pages_messaging", 230)
        if problem:
            return problem
        try:
            recipient = json.loads(params.get("recipient") or "null")
            message = json.loads(params.get("message") or "null")
        except ValueError:
            return self._error(400, 100, "(#100) param recipient must be a JSON object")
        if not isinstance(recipient, dict) or not recipient:
            return self._error(400, 100, "(#100) The parameter recipient is required")
        if not isinstance(message, dict) or not (message.get("text") or "").strip():
            return self._error(400, 100, "(#100) The parameter message is required")
        text = message["text"]
        if len(text) > MESSAGE_LIMIT:
            return self._error(400, 100, f"(#100) Length of param message[text] must be less than or equal to {MESSAGE_LIMIT}")
        item_id = recipient.get("comment_id") or recipient.get("post_id")
        if item_id:
            item = self._comments.get(item_id) if recipient.get("comment_id") else self._posts.get(item_id)
            if item is None or item["deleted"]:
                return self._error(400, 100, "(#100) No matching user found", subcode=2018001)
            if item["privately_replied"]:
                return self._error(400, 10900, "Activity already replied to")
            if item["from"] == self.page_id:
                return self._error(400, 100, "(#100) Cannot send a private reply to a Page's own activity")
            if _now() - item["created"] > PRIVATE_REPLY_WINDOW:
                return self._error(400, 10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
            item["privately_replied"] = True
            psid = item["from"]
        else:
            psid = str(recipient.get("id", ""))
            conversation = self._conversations.get(psid)
            last = max((m["created"] for m in conversation["messages"] if m["from"] == psid), default=None) \
                if conversation else None
            if last is None:
                return self._error(400, 100, "(#100) No matching user found", subcode=2018001)
            if _now() - last > MESSAGING_WINDOW and params.get("messaging_type") != "MESSAGE_TAG":
                return self._error(400, 10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
        mid = "m_" + base64.urlsafe_b64encode(f"out.{self._new_id()}".encode()).decode().rstrip("=")
        record = {"recipient": recipient, "text": text, "message_id": mid, "recipient_id": psid,
                  "messaging_type": params.get("messaging_type", "")}
        self._sent_messages.append(record)
        if item_id:
            self._private_replies.append(record)
        conversation = self._conversation(psid)
        conversation["messages"].append({"id": mid, "message": text, "from": self.page_id, "to": psid, "created": _now()})
        return 200, {}, {"recipient_id": psid, "message_id": mid}

    def _route_ratings(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id != self.page_id:
            return self._unsupported(id)
        if version > RATINGS_LAST_VERSION:
            return self._error(400, 12, f"(#12) ratings field is deprecated for versions v{RATINGS_LAST_VERSION + 1}.0 "
                                        "and higher")
        if "pages_read_user_content" not in self.permissions:
            return self._error(400, 283, "(#283) Requires pages_read_user_content permission")
        problem = self._check_fields("rating", fields)
        if problem:
            return problem
        wanted = fields or {"created_time": None, "recommendation_type": None, "review_text": None}

        def render(rating: dict) -> dict:
            full = {"created_time": graph_time(rating["created"]), "recommendation_type": rating["recommendation"],
                    "review_text": rating["text"], "has_rating": False, "has_review": True,
                    "reviewer": self._render_user(rating["reviewer"], wanted.get("reviewer")),
                    "open_graph_story": {"id": rating["story"]}}
            return {k: full[k] for k in wanted if k in full}

        ratings = sorted(self._window(params, self._ratings), key=lambda r: r["created"], reverse=True)
        return self._page(request, params, ratings, render)

    def _route_conversations(self, request: Request, params: dict, fields: dict | None, *, version: int, id: str) -> Reply:
        if id != self.page_id:
            return self._unsupported(id)
        problem = self._need("pages_messaging", 230) or self._check_fields("conversation", fields)
        if problem:
            return problem
        wanted = fields or {"id": None, "updated_time": None}

        def render(conversation: dict) -> dict:
            full = {"id": conversation["id"], "updated_time": graph_time(conversation["updated"]),
                    "link": f"/{self.page_id}/inbox/{conversation['id']}", "message_count": len(conversation["messages"]),
                    "participants": {"data": [self._render_user(conversation["psid"]), self._render_user(self.page_id)]}}
            return {k: full[k] for k in wanted if k in full}

        conversations = sorted(self._conversations.values(), key=lambda c: c["updated"], reverse=True)
        return self._page(request, params, conversations, render)

    def _route_conversation_messages(self, request: Request, params: dict, fields: dict | None, *, version: int,
                                     id: str) -> Reply:
        conversation = next((c for c in self._conversations.values() if c["id"] == id), None)
        if conversation is None:
            return self._unsupported(id)
        problem = self._need("pages_messaging", 230) or self._check_fields("message", fields)
        if problem:
            return problem
        wanted = fields or {"id": None, "created_time": None}

        def render(message: dict) -> dict:
            full = {"id": message["id"], "message": message["message"], "created_time": graph_time(message["created"]),
                    "from": self._render_user(message["from"]), "to": {"data": [self._render_user(message["to"])]}}
            return {k: full[k] for k in wanted if k in full}

        messages = sorted(conversation["messages"], key=lambda m: m["created"], reverse=True)
        return self._page(request, params, messages, render)

    # -- wire --------------------------------------------------------------
    def _write(self, http, status: int, headers: dict[str, str], body: Any) -> None:
        """As the base, except that an empty header value drops the header (a Content-Type-less answer)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        merged = {"Content-Type": self.content_type, "facebook-api-version": "v21.0", **headers}
        try:
            http.send_response(status)
            for name, value in merged.items():
                if value != "":
                    http.send_header(name, str(value))
            http.send_header("Content-Length", str(len(body)))
            http.send_header("Connection", "close")
            http.end_headers()
            http.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        http.close_connection = True
