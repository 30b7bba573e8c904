"""Instagram through the same Meta app as Facebook: comments on the brand's media and @mentions in, replies out.

The "Instagram API with Facebook Login" setup: the professional account is linked
to a Page, calls go to graph.facebook.com with a Page access token, and webhooks
come signed with the app secret (`object: "instagram"`, fields `comments`,
`live_comments`, `mentions`). Graph plumbing (errors, usage headers, paging,
the subscription handshake, signatures) is the Facebook adapter's; only what
Instagram does differently is here.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from typing import Mapping

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config import DEFAULT_GRAPH_VERSION, FileConfig, Settings, secret
from bot.domain.posts import Author, Post, SentReply
from bot.networks import facebook
from bot.networks.base import CannotLook, Fetched, NetworkError, NetworkInfo, Rejected, Target, WebhookEvents, own_settings
from bot.clock import utcnow
from bot.networks.facebook import FacebookNetwork, _parse_time

log = logging.getLogger(__name__)

PRIVATE_REPLY_WINDOW = timedelta(days=7)  # Meta: one private reply per comment, within 7 days
COMMENT_LIMIT = 2200
MESSAGE_LIMIT = 1000                      # Instagram messaging text limit
MEDIA_LOOKBACK = timedelta(days=30)       # polling reads comments on media this recent...
MAX_MEDIA = 50                            # ...and at most this many (webhooks see everything)
CONTEXT_CHARS = 200
STREAM = "instagram:comments"
_COMMENT_FIELDS = "id,text,timestamp,from{id,username},username,parent_id,media{id,permalink,caption,media_product_type}"
INFO = NetworkInfo(name="instagram", label="Instagram", emoji=":camera_with_flash:", colour="#c13584",
                   sla=timedelta(hours=1), private_reply_kinds=("comment",), private_reply_window=PRIVATE_REPLY_WINDOW,
                   private_reply_via="Instagram Direct")
TOKEN_FIX = ("Reconnect Instagram: create a new long-lived Page access token for the Page linked to the Instagram "
             "account (README, 'Connect Instagram'), set INSTAGRAM_ACCESS_TOKEN (or FACEBOOK_PAGE_ACCESS_TOKEN) and "
             "restart socialdesk; `socialdesk check` confirms it works.")
NO_LIVE_REPLY = ("Instagram takes no public replies to live-video comments through its API: answer in the live "
                 "video, or use Move to DM while the broadcast lasts")


class InstagramSettings(BaseSettings):
    """`INSTAGRAM_*`; anything left empty is taken from the Facebook settings of the same Meta app."""

    model_config = SettingsConfigDict(env_prefix="INSTAGRAM_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    account_id: str = ""                    # the Instagram professional account's id (not the @username)
    access_token: SecretStr | None = None   # default FACEBOOK_PAGE_ACCESS_TOKEN
    app_secret: SecretStr | None = None     # default FACEBOOK_APP_SECRET
    verify_token: SecretStr | None = None   # default FACEBOOK_VERIFY_TOKEN
    graph_url: str = ""                     # default FACEBOOK_GRAPH_URL
    graph_version: str = ""                 # default FACEBOOK_GRAPH_VERSION


def settings_from(settings: Settings) -> InstagramSettings:
    """INSTAGRAM_*, with what is left empty taken from the Facebook settings of the same Meta app."""
    own = own_settings(InstagramSettings, settings, "instagram_")
    meta = facebook.settings_from(settings)
    return own.model_copy(update={
        "access_token": own.access_token if secret(own.access_token) else meta.page_access_token,
        "app_secret": own.app_secret if secret(own.app_secret) else meta.app_secret,
        "verify_token": own.verify_token if secret(own.verify_token) else meta.verify_token,
        "graph_url": own.graph_url or meta.graph_url,
        "graph_version": own.graph_version or meta.graph_version,
    })


def secret_values(settings: Settings) -> list[str]:
    own = settings_from(settings)
    return [value.get_secret_value() for value in (own.access_token, own.app_secret, own.verify_token)
            if value is not None and value.get_secret_value()]


def half_configured(settings: Settings) -> str | None:
    own = settings_from(settings)
    if own.account_id and not secret(own.access_token):
        return "INSTAGRAM_ACCOUNT_ID is set but no Page access token is (INSTAGRAM_ACCESS_TOKEN or FACEBOOK_PAGE_ACCESS_TOKEN): Instagram is off"
    return None


def build(settings: Settings, config: FileConfig, db=None) -> "InstagramNetwork | None":
    """Instagram is on when INSTAGRAM_ACCOUNT_ID and a Page access token (its own or Facebook's) are set."""
    own = settings_from(settings)
    if not own.account_id or not secret(own.access_token):
        return None
    return InstagramNetwork(
        account_id=own.account_id,
        token=secret(own.access_token),
        app_secret=secret(own.app_secret),
        verify_token=secret(own.verify_token),
        graph_url=own.graph_url,
        version=own.graph_version or DEFAULT_GRAPH_VERSION,
    )


class InstagramNetwork(FacebookNetwork):
    info = INFO
    name = INFO.name
    label = INFO.label
    reply_limit = COMMENT_LIMIT
    token_fix = TOKEN_FIX
    reconnect_help = ("\nHow to fix: make a new Page access token as for Facebook (README, 'Connect a Facebook Page'), "
                      "for the Page linked to the Instagram account, with instagram_basic, instagram_manage_comments "
                      "and instagram_manage_messages too; set INSTAGRAM_ACCESS_TOKEN (or FACEBOOK_PAGE_ACCESS_TOKEN).")

    def __init__(self, *, account_id: str, token: str, app_secret: str = "", verify_token: str = "",
                 graph_url: str = "", version: str = DEFAULT_GRAPH_VERSION):
        super().__init__(page_id=account_id, page_token=token, app_secret=app_secret, verify_token=verify_token,
                         graph_url=graph_url, version=version)
        self.account_id = account_id
        self._username = ""
        self._media_seen: dict[str, dict] = {}

    # -- identity ---------------------------------------------------------------

    def own_ids(self) -> set[str]:
        return {self.account_id}

    def _own_username(self) -> str:
        if not self._username:
            self._username = str(self._call(self.account_id, params={"fields": "id,username"}).get("username") or "")
        return self._username

    def check(self) -> str:
        account = self._call(self.account_id, params={"fields": "id,username"}, need="instagram_basic")
        self._username = str(account.get("username") or "")
        self._call(f"{self.account_id}/media", params={"fields": "id", "limit": 1}, need="instagram_basic")
        hooks = ("webhooks on (comments, live_comments, mentions)" if self._app_secret and self._verify_token
                 else "webhooks off (set the app secret and verify token), polling only")
        return f"Instagram @{self._username or '?'} (id {account.get('id', self.account_id)}) · Graph {self.version} · {hooks}"

    # -- in: polling (the fallback; Meta prefers webhooks) ------------------------

    def fetch(self, cursors: Mapping[str, str]) -> Fetched:
        """New comments on the account's recent media. @mentions elsewhere arrive only by webhook."""
        self._check_pause()
        now = utcnow()
        since = self._since(cursors.get(STREAM), now)
        result = Fetched()
        media = self._pages(f"{self.account_id}/media", {"fields": "id,caption,permalink,timestamp", "limit": 25},
                            need="instagram_basic")
        for count, item in enumerate(media):
            created = _parse_time(item["timestamp"]) if item.get("timestamp") else now
            if count >= MAX_MEDIA or created < now - MEDIA_LOOKBACK:
                break  # newest first
            for comment in self._pages(f"{item['id']}/comments", {"fields": _COMMENT_FIELDS, "limit": 50},
                                       need="instagram_manage_comments"):
                when = _parse_time(comment["timestamp"]) if comment.get("timestamp") else now
                if when >= since and not self._is_ours(comment):
                    result.posts.append(self._comment_post(comment, "comment", media=item))
        result.cursors[STREAM] = str(int(now.timestamp()))
        return result

    def _is_ours(self, comment: dict) -> bool:
        author = comment.get("from") or {}
        if author.get("id"):
            return str(author["id"]) == self.account_id
        username = comment.get("username") or author.get("username")
        return bool(username) and username == self._own_username()

    def _comment_post(self, comment: dict, kind: str, *, media: dict | None = None) -> Post:
        media = media or comment.get("media") or {}
        author = comment.get("from") or {}
        handle = str(author.get("username") or comment.get("username") or "")
        parent = str(comment.get("parent_id") or "")
        if kind == "mention":
            context = f"A comment mentioning @{self._username or 'the account'} on someone else's post"
        else:
            context = str(media.get("caption") or "")[:CONTEXT_CHARS]
        return Post(
            network=self.name,
            external_id=str(comment["id"]),
            text=str(comment.get("text") or ""),
            author=Author(external_id=str(author.get("id") or ""), handle=handle, name=handle),
            created_at=_parse_time(comment["timestamp"]) if comment.get("timestamp") else utcnow(),
            url=str(media.get("permalink") or ""),
            conversation_id=str(media.get("id") or ""),
            in_reply_to_id=parent,
            kind=kind,
            context=context,
            reply_blocker=NO_LIVE_REPLY if kind == "live_comment" else "",
            raw=comment,
        )

    # -- in: webhooks (X-Hub-Signature-256 and the handshake are the Facebook adapter's) -------------

    def parse_webhook_events(self, body: bytes) -> WebhookEvents:
        events = WebhookEvents()
        for entry in facebook.meta_entries(body, events, kind="instagram", kind_word="instagram", owner=self.account_id, owner_word="account"):
            for change in entry.get("changes") or []:
                # Comment webhooks carry no time of their own: the entry's (when Meta sent it) stands in.
                self._safely(events, self._ig_change, {**change, "time": entry.get("time")} if isinstance(change, dict) else change)
        return events

    def _ig_change(self, events: WebhookEvents, change: dict) -> None:
        field_name, value = change.get("field"), change["value"]
        if not isinstance(value, dict):
            raise TypeError("value is not an object")
        if field_name in ("comments", "live_comments"):
            comment = value
            if not (value.get("from") or {}).get("id") or not value.get("media"):
                # Older deliveries carry only the id and text: ask Graph who wrote it and on what.
                comment = {**self._lookup(str(value["id"]), f"{value['id']}", {"fields": _COMMENT_FIELDS}), **value}
                comment["from"] = comment.get("from") or {}
            if self._is_ours(comment):
                events.ignored.append("our own comment")
                return
            comment["media"] = {**self._media(str((comment.get("media") or {}).get("id") or "")), **(comment.get("media") or {})}
            comment.setdefault("timestamp", change.get("time") or int(utcnow().timestamp()))
            events.posts.append(self._comment_post(comment, "comment" if field_name == "comments" else "live_comment"))
            return
        if field_name == "mentions":
            comment_id, media_id = str(value["comment_id"]), str(value.get("media_id") or "")
            fields = (f"mentioned_comment.comment_id({comment_id})"
                      "{id,text,timestamp,username,from{id,username},media{id,permalink}}")
            found = self._lookup(comment_id, self.account_id, {"fields": fields}).get("mentioned_comment") or {}
            comment = {"id": comment_id, "timestamp": change.get("time") or int(utcnow().timestamp()), **found}
            comment["media"] = {"id": media_id, **(found.get("media") or {})}
            if not comment.get("text"):
                events.problems.append(f"mention {comment_id}: Instagram did not return the comment")
                return
            events.posts.append(self._comment_post(comment, "mention"))
            return
        events.ignored.append(f"field {str(field_name)[:30]}")

    def _media(self, media_id: str) -> dict:
        """The post a comment is on (caption for the card, permalink for the link); best effort, remembered."""
        if not media_id:
            return {}
        with self._lock:
            if media_id in self._media_seen:
                return self._media_seen[media_id]
        try:
            media = self._call(media_id, params={"fields": "id,caption,permalink"}, quick=True)
        except NetworkError as exc:
            log.info("instagram: could not read media %s for context: %s", media_id, exc.message)
            return {}
        with self._lock:
            self._media_seen[media_id] = media
            while len(self._media_seen) > 500:
                self._media_seen.pop(next(iter(self._media_seen)))
        return media

    def _lookup(self, what: str, path: str, params: dict) -> dict:
        """Best effort while Meta waits for the 200: on failure the delivery still counts, the part is noted."""
        try:
            return self._call(path, params=params, quick=True, need="instagram_manage_comments")
        except NetworkError as exc:
            raise ValueError(f"could not read {what} from Instagram: {exc.message}") from None

    # -- out --------------------------------------------------------------------

    def reply_length(self, text: str) -> int:
        return len(text)

    def draft_notes(self, text: str) -> list[str]:
        mentions = len(re.findall(r"(?<!\w)@\w", text))
        return ["Instagram refuses comments with more than 5 @mentions"] if mentions > 5 else []

    def reply_public(self, target: Target, text: str) -> SentReply:
        """Under the comment (Instagram keeps replies one level deep); for a mention, on the post that mentioned us."""
        if target.kind == "live_comment":
            raise Rejected(NO_LIVE_REPLY)
        if target.kind == "mention":
            response = self._call(f"{self.account_id}/mentions", write=True, need="instagram_manage_comments",
                                  data={"comment_id": target.external_id, "media_id": target.conversation_id,
                                        "message": text})
        else:
            response = self._call(f"{target.external_id}/replies", data={"message": text}, write=True,
                                  need="instagram_manage_comments")
        return SentReply(external_id=str(response.get("id") or ""), url="")

    def find_reply(self, target: Target, kind: str, text: str, since: datetime) -> SentReply | None:
        """The account's reply under this comment (`GET /{comment}/replies`), if Instagram shows one.

        Asked before resending a reply whose outcome is unknown. Instagram shows no
        list of the private replies sent, nor replies on someone else's post, so those
        raise CannotLook (the card tells the team to check; a second private reply to
        the same comment is refused by Instagram anyway).
        """
        if kind != "public":
            raise CannotLook("Instagram offers no way to look up a private reply; check Instagram Direct")
        if target.kind != "comment":
            raise CannotLook("Instagram offers no way to look up a reply on someone else's post; check the post")
        found = []
        for item in self._pages(f"{target.external_id}/replies", {"fields": "id,text,timestamp,username,from{id,username}", "limit": 50},
                                need="instagram_manage_comments"):
            try:
                created = _parse_time(item["timestamp"]) if item.get("timestamp") else None
            except ValueError:
                created = None
            if self._is_ours(item) and (created is None or created >= since - timedelta(minutes=1)):
                found.append(item)
        best = next((c for c in found if c.get("text") == text), found[0] if found else None)
        return SentReply(external_id=str(best["id"]), url="") if best else None

    def post_status(self, text: str) -> SentReply:
        """Instagram publishes only photos and videos, so a text status update cannot go out here."""
        raise Rejected("Instagram has no text-only posts: share the update on Instagram yourself (a story or a post)")

    def reply_private(self, target: Target, text: str) -> SentReply:
        """One private reply per comment, within 7 days; it lands in their requests unless they follow the account."""
        blocker = self._blocker(target, utcnow(), quick=False)
        if blocker:
            raise Rejected(blocker)
        if len(text) > MESSAGE_LIMIT:
            raise Rejected(f"Instagram messages may be at most {MESSAGE_LIMIT} characters; this one has {len(text)}")
        data = {"recipient": json.dumps({"comment_id": target.external_id}), "message": json.dumps({"text": text})}
        response = self._call(f"{self.account_id}/messages", data=data, write=True, need="instagram_manage_messages")
        self._private_sent.add(target.external_id)
        return SentReply(external_id=str(response.get("message_id") or ""), url="")

    def private_reply_blocker(self, target: Target, now: datetime) -> str | None:
        return self._blocker(target, now, quick=True)

    def _blocker(self, target: Target, now: datetime, *, quick: bool) -> str | None:
        if target.kind not in ("comment", "live_comment"):
            return "Instagram allows private replies only to comments on the account's own posts"
        if now - target.created_at > PRIVATE_REPLY_WINDOW:
            return "Instagram allows a private reply only within 7 days of the comment"
        if target.external_id in self._private_sent:
            return "already sent a private reply to this comment (Instagram allows one)"
        return None
