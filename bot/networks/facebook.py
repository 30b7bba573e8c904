"""A Facebook Page through facebook-sdk: comments, visitor posts, ratings and Messenger in; comment replies and private replies out.

facebook-sdk 3.1 is old: its constructor refuses any Graph version after 3.1, it
crashes on a response without Content-Type, it ignores the HTTP status and only
raises when the body holds "error", and its base URL is a module global. All of
that stays in this file.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator, Mapping
from urllib.parse import parse_qs, urlsplit

import facebook
import requests
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.clock import utcnow
from bot.config import DEFAULT_GRAPH_VERSION, ConfigError, FileConfig, Settings, secret
from bot.domain.posts import Author, Post, SentReply
from bot.networks.base import (
    AuthFailed,
    CannotLook,
    Fetched,
    NetworkError,
    NetworkInfo,
    VisibilityChange,
    WebhookEvents,
    own_settings,
    RateLimited,
    Rejected,
    Target,
    Unavailable,
    Uncertain,
)
from bot.networks.transport import TIMEOUT, BaseURLTransport

log = logging.getLogger(__name__)
# urllib3 logs every URL at DEBUG, and Graph URLs carry the Page token in the query.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

GRAPH_HOST = "https://graph.facebook.com"
QUICK = (1.0, 1.0)  # lookups made while Slack waits (a modal must open within 3 s of the click)
PRIVATE_REPLY_WINDOW = timedelta(days=7)  # Meta: one private reply per comment, within 7 days
OVERLAP = timedelta(minutes=5)            # re-read a little before the cursor: Graph is eventually consistent
FIRST_LOOKBACK = timedelta(days=1)        # how far back the very first poll looks
POST_LOOKBACK = timedelta(days=30)        # polling looks for new comments on posts this recent...
MAX_POSTS = 100                           # ...and at most this many of them (webhooks see everything)
CONTEXT_CHARS = 200
MESSAGE_LIMIT = 2000                      # Messenger text limit
COMMENT_LIMIT = 8000
RATE_LIMIT_CODES = {4, 17, 32, 341, 613, 80001}
TRANSIENT_CODES = {1, 2}
RATE_LIMIT_WAIT = 300                     # seconds, when Meta gives no estimate
SLOW_DOWN_AT = 80                         # percent of a usage quota at which polling waits
STREAM_PAGE, STREAM_RATINGS, STREAM_MESSAGES = "facebook:page", "facebook:ratings", "facebook:messages"
NO_DM_WINDOW = "Facebook allows a private reply only within 7 days of the comment"
NO_DM_TWICE = "already sent a private reply to this comment"
TOKEN_FIX = ("Reconnect Facebook: create a new long-lived Page access token (README, 'Connect a Facebook Page'), "
             "set FACEBOOK_PAGE_ACCESS_TOKEN and restart socialdesk; `socialdesk check` confirms it works.")
_TOKEN_REASONS = {
    458: "the app was removed from the account that issued it",
    459: "the person who issued it must log in to Facebook to pass a security check",
    460: "the person who issued it changed their password",
    463: "it expired",
    464: "the person who issued it has an unconfirmed account",
    467: "it is no longer valid",
}
_PERMISSION = re.compile(r"\b(pages_[a-z_]+|read_insights|business_management|public_profile)\b")
_POST_FIELDS = "id,message,created_time,updated_time,from{id,name},permalink_url"
_COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,like_count,comment_count"


def graph_version(value: str) -> str:
    """"v21.0" or "21.0" -> "v21.0"; anything else is a configuration error."""
    match = re.fullmatch(r"v?(\d{1,2})\.(\d)", value.strip())
    if not match:
        raise ConfigError(f'FACEBOOK_GRAPH_VERSION "{value}" is not a Graph API version; write it like "v21.0"')
    return f"v{match.group(1)}.{match.group(2)}"


def _parse_time(value) -> datetime:
    """Graph reads give "2025-03-22T18:20:04+0000"; webhooks give epoch seconds (Messenger: milliseconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {str(value)[:30]} is out of range") from None
    text = str(value)
    if text.isdigit():
        return _parse_time(int(text))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _author(value: dict) -> dict:
    """Who wrote a feed change: `from{id,name}` today, `sender_id`/`sender_name` in older and some current deliveries."""
    author = value.get("from")
    if isinstance(author, dict) and author.get("id"):
        return author
    if value.get("sender_id"):
        return {"id": str(value["sender_id"]), "name": str(value.get("sender_name") or "")}
    return author if isinstance(author, dict) else {}


def _local_id(object_id: str) -> str:
    return object_id.rsplit("_", 1)[-1]


@dataclass(frozen=True)
class Usage:
    """The highest quota percentage in Meta's usage headers, and when access comes back."""

    percent: int = 0
    regain_seconds: int = 0


def read_usage(headers: Mapping[str, str]) -> Usage:
    percent, regain = 0, 0
    for name in ("x-app-usage", "x-page-usage", "x-business-use-case-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        buckets = [data] if name != "x-business-use-case-usage" else [
            b for entries in data.values() if isinstance(entries, list) for b in entries if isinstance(b, dict)]
        for bucket in buckets:
            for key in ("call_count", "total_time", "total_cputime"):
                value = bucket.get(key)
                if isinstance(value, (int, float)):
                    percent = max(percent, int(value))
            eta = bucket.get("estimated_time_to_regain_access")
            if isinstance(eta, (int, float)):
                regain = max(regain, int(eta) * 60)
    return Usage(percent, regain)


INFO = NetworkInfo(name="facebook", label="Facebook", emoji=":large_blue_circle:", colour="#1877f2",
                   sla=timedelta(hours=1), private_reply_kinds=("comment", "visitor_post"),
                   private_reply_window=PRIVATE_REPLY_WINDOW, private_reply_via="Messenger")


class FacebookSettings(BaseSettings):
    """`FACEBOOK_*`: the Page, its token, and the Meta app's webhook credentials."""

    model_config = SettingsConfigDict(env_prefix="FACEBOOK_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    page_id: str = ""
    page_access_token: SecretStr | None = None
    app_secret: SecretStr | None = None      # checks webhook signatures; signs calls (appsecret_proof)
    verify_token: SecretStr | None = None    # typed again in Meta's webhook setup
    graph_url: str = GRAPH_HOST + "/"
    graph_version: str = DEFAULT_GRAPH_VERSION

    @property
    def enabled(self) -> bool:
        return bool(self.page_id and secret(self.page_access_token))


def settings_from(settings: Settings) -> FacebookSettings:
    return own_settings(FacebookSettings, settings, "facebook_")


def secret_values(settings: Settings) -> list[str]:
    own = settings_from(settings)
    return [v for v in (secret(own.page_access_token), secret(own.app_secret), secret(own.verify_token)) if v]


def build(settings: Settings, config: FileConfig, db=None) -> "FacebookNetwork | None":
    """Facebook is on when FACEBOOK_PAGE_ID and FACEBOOK_PAGE_ACCESS_TOKEN are set."""
    own = settings_from(settings)
    if not own.enabled:
        return None
    return FacebookNetwork(
        page_id=own.page_id,
        page_token=secret(own.page_access_token),
        app_secret=secret(own.app_secret),
        verify_token=secret(own.verify_token),
        graph_url=own.graph_url,
        version=own.graph_version,
    )


RECONNECT_HELP = (
    "\nHow to fix: Page tokens stop working when they expire, when the person who made them changes their password "
    "or leaves the Page, or when the app loses a permission. Make a new one: in the Graph API Explorer (or your "
    "app's login flow) get a user token for the app with pages_show_list, pages_read_engagement, "
    "pages_read_user_content, pages_manage_engagement and pages_messaging; exchange it for a long-lived token "
    "(GET /oauth/access_token?grant_type=fb_exchange_token); then GET /me/accounts and copy the Page's "
    "access_token into FACEBOOK_PAGE_ACCESS_TOKEN (a Page token made from a long-lived user token does not "
    "expire; a System User token from Business Settings survives people leaving). Restart socialdesk."
)


def half_configured(settings: Settings) -> str | None:
    """What `socialdesk check` says when Facebook is meant to be on but cannot be."""
    own = settings_from(settings)
    if own.page_id and not own.enabled:
        return "FACEBOOK_PAGE_ID is set but FACEBOOK_PAGE_ACCESS_TOKEN is not: Facebook is off"
    return None


def meta_entries(body: bytes, events: WebhookEvents, *, kind: str, kind_word: str, owner: str, owner_word: str) -> list[dict]:
    """The entries of a Meta delivery (Page or Instagram) addressed to us; what is wrong with the rest is noted."""
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("webhook body is not a JSON object")
    if payload.get("object") != kind:
        events.problems.append(f"object {str(payload.get('object'))[:20]!r} is not {kind_word}")
        return []
    entries = payload.get("entry")
    if not isinstance(entries, list):
        events.problems.append("no entry list")
        return []
    ours = []
    for entry in entries:
        if not isinstance(entry, dict):
            events.problems.append("an entry is not an object")
        elif str(entry.get("id", "")) != owner:
            events.problems.append(f"entry for another {owner_word} ({str(entry.get('id'))[:20]})")
        else:
            ours.append(entry)
    return ours


class FacebookNetwork:
    token_fix = TOKEN_FIX
    reconnect_help = RECONNECT_HELP
    info = INFO
    name = INFO.name
    label = INFO.label
    reply_limit = COMMENT_LIMIT

    def __init__(
        self,
        *,
        page_id: str,
        page_token: str,
        app_secret: str = "",
        verify_token: str = "",
        graph_url: str = GRAPH_HOST,
        version: str = "v21.0",
    ):
        self.page_id = page_id
        self.version = graph_version(version)
        self._token = page_token
        self._app_secret = app_secret
        self._verify_token = verify_token
        session = requests.Session()
        transport = BaseURLTransport(graph_url or GRAPH_HOST)
        session.mount("https://", transport)
        session.mount("http://", transport)
        session.hooks["response"].append(self._watch_usage)
        self.graph = facebook.GraphAPI(access_token=page_token, timeout=TIMEOUT, session=session)
        self.quick = facebook.GraphAPI(access_token=page_token, timeout=QUICK, session=session)
        for graph in (self.graph, self.quick):
            graph.version = self.version  # the constructor refuses anything after 3.1
        self._lock = threading.Lock()
        self._paused_until: datetime | None = None
        self._usage = Usage()
        self._private_sent: set[str] = set()
        self._post_text: OrderedDict[str, str] = OrderedDict()
        self._optional_off: dict[str, str] = {}  # stream -> why it is off in this process

    # -- plumbing ---------------------------------------------------------------

    @property
    def ratings_available(self) -> bool:
        return int(self.version[1:].split(".")[0]) <= 21

    def _proof(self) -> dict[str, str]:
        if not self._app_secret:
            return {}
        return {"appsecret_proof": hmac.new(self._app_secret.encode(), self._token.encode(), hashlib.sha256).hexdigest()}

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _watch_usage(self, response, *args, **kwargs):
        """Read Meta's usage headers on every answer, errors included: above SLOW_DOWN_AT percent, polling waits."""
        usage = read_usage(response.headers)
        if usage.percent < SLOW_DOWN_AT:
            return response
        wait = usage.regain_seconds or (120 if usage.percent < 95 else 600)
        with self._lock:
            self._usage = usage
            until = utcnow() + timedelta(seconds=wait)
            if self._paused_until is None or until > self._paused_until:
                self._paused_until = until
        return response

    def _call(self, path: str, *, params: dict | None = None, data: dict | None = None, write: bool = False,
              need: str = "", quick: bool = False) -> dict:
        """One Graph request; every failure comes out as a NetworkError without the token in it."""
        args = {**(params or {}), **({} if data is not None else self._proof())}
        post_args = {**data, **self._proof()} if data is not None else None
        graph = self.quick if quick else self.graph
        try:
            result = graph.request(f"{self.version}/{path}", args=args, post_args=post_args, method="POST" if write else "GET")
        except Exception as exc:  # noqa: BLE001 - translated; `from None` drops URLs that hold the token
            raise self._translate(exc, write=write, need=need) from None
        if not isinstance(result, dict):
            raise (Uncertain if write else Unavailable)(f"{self.label} answered with something that is not a JSON object")
        return result

    def _pages(self, path: str, params: dict, *, need: str = "") -> Iterator[dict]:
        """Every item of a connection, following `paging.next` (its token is dropped and our own added)."""
        args = dict(params)
        while True:
            page = self._call(path, params=args, need=need)
            for item in page.get("data") or []:
                if isinstance(item, dict):
                    yield item
            next_url = (page.get("paging") or {}).get("next")
            if not next_url:
                return
            args = {k: v[-1] for k, v in parse_qs(urlsplit(next_url).query).items()
                    if k not in ("access_token", "appsecret_proof")}

    def _translate(self, exc: Exception, *, write: bool, need: str) -> NetworkError:
        """Map facebook-sdk/requests failures onto the error kinds the domain understands."""
        if isinstance(exc, facebook.GraphAPIError):
            return self._graph_error(exc, write=write, need=need)
        if isinstance(exc, KeyError):  # facebook-sdk reads headers["content-type"] unguarded
            text = f"{self.label} answered without a Content-Type"
            return Uncertain(text + "; the reply may or may not have been posted") if write else Unavailable(text)
        if isinstance(exc, requests.ConnectTimeout):
            return Unavailable(f"{self.label} could not be reached (connection timed out)")
        if isinstance(exc, requests.Timeout):
            if write:
                return Uncertain(f"{self.label} did not answer in time; the reply may or may not have been posted")
            return Unavailable(f"{self.label} did not answer in time")
        if isinstance(exc, requests.ConnectionError):
            refused = "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)
            if write and not refused:
                return Uncertain(f"the connection to {self.label} broke; the reply may or may not have been posted")
            return Unavailable(f"{self.label} could not be reached")
        if isinstance(exc, (requests.RequestException, ValueError)):
            text = f"{self.label}'s answer could not be read ({type(exc).__name__})"
            return Uncertain(text + "; the reply may or may not have been posted") if write else Unavailable(text)
        return Unavailable(f"unexpected {type(exc).__name__} talking to {self.label}")

    def _graph_error(self, exc: facebook.GraphAPIError, *, write: bool, need: str) -> NetworkError:
        error = exc.result.get("error") if isinstance(exc.result, dict) else None
        if not isinstance(error, dict):
            # Not Graph JSON at all (an HTML error page, a proxy): the request did not go through.
            return Unavailable(f"{self.label} answered with something that is not Graph API JSON")
        code, sub = error.get("code"), error.get("error_subcode")
        text = self._scrub(str(error.get("message") or "no message"))
        where = f" (code {code}{f'/{sub}' if sub else ''})"
        if code == 190:
            reason = _TOKEN_REASONS.get(sub, "it expired or was revoked")
            return AuthFailed(f"{self.label} refused the Page access token because {reason}{where}. {self.token_fix}")
        if code in RATE_LIMIT_CODES:
            with self._lock:
                paused = self._paused_until
            wait = max(RATE_LIMIT_WAIT, (paused - utcnow()).total_seconds() if paused else 0)
            return RateLimited(f"{self.label} rate limit reached{where}: {text}", retry_after=wait)
        if code == 10900:
            return Rejected(f"{self.label} says: {NO_DM_TWICE} (one private reply per comment){where}")
        if code == 10 and (sub == 2018278 or "allowed window" in text):
            return Rejected(f"{self.label} refused the private message: it is outside the allowed window (private replies "
                            f"within 7 days of the comment, Messenger answers within 24 hours of their last message){where}")
        if code == 551 or sub == 1545041:
            return Rejected(f"{self.label} says this person cannot be messaged right now{where}")
        if code in (10, 3, 283) or (isinstance(code, int) and 200 <= code <= 299):
            found = _PERMISSION.search(text)
            permission = found.group(1) if found else need
            named = f"the {permission} permission" if permission else "a permission"
            return AuthFailed(f"{self.label} says the app is missing {named}{where}: {text}. Add it to the app, then "
                              f"create a new Page access token that includes it (README, 'Connect a {self.label} Page').")
        if code in TRANSIENT_CODES or error.get("is_transient"):
            return Unavailable(f"{self.label} had a temporary problem{where}: {text}")
        if code == 100 and sub == 33:
            return Rejected(f"the item no longer exists on {self.label} (deleted, or not visible to the Page){where}")
        if code == 368:
            return Rejected(f"{self.label} has temporarily blocked the Page from doing this for policy reasons{where}: {text}")
        if code == 506:
            return Rejected(f"{self.label} refused a duplicate post{where}")
        if code == 12:
            return Rejected(f"{self.label} no longer offers this in {self.version}{where}: {text}")
        return Rejected(f"{self.label} refused it{where}: {text}")

    # -- identity ---------------------------------------------------------------

    def own_ids(self) -> set[str]:
        return {self.page_id}

    def check(self) -> str:
        page = self._call(self.page_id, params={"fields": "id,name"})
        self._call(f"{self.page_id}/feed", params={"fields": "id", "limit": 1}, need="pages_read_engagement")
        notes = [f"Graph {self.version}"]
        notes.append("webhooks on" if self._app_secret and self._verify_token
                     else "webhooks off (set FACEBOOK_APP_SECRET and FACEBOOK_VERIFY_TOKEN), polling only")
        try:
            self._call(f"{self.page_id}/conversations", params={"fields": "id", "limit": 1, "platform": "messenger"},
                       need="pages_messaging")
        except AuthFailed as exc:
            if "190" in exc.message:
                raise
            notes.append("Move to DM and Messenger will fail without pages_messaging")
        if not self.ratings_available:
            notes.append(f"ratings are not readable in {self.version} (Meta removed them from v22.0)")
        return f"Page {page.get('name', '?')} (id {page.get('id', self.page_id)}) · " + " · ".join(notes)

    # -- in ---------------------------------------------------------------------

    def _since(self, cursor: str | None, now: datetime) -> datetime:
        if cursor and cursor.isdigit():
            return datetime.fromtimestamp(int(cursor), timezone.utc) - OVERLAP
        return now - FIRST_LOOKBACK

    def _check_pause(self) -> None:
        with self._lock:
            until, usage = self._paused_until, self._usage
        if until is None:
            return
        left = (until - utcnow()).total_seconds()
        if left > 0:
            raise RateLimited(f"{self.label} usage is at {usage.percent}% of the quota; polling waits", retry_after=left)
        with self._lock:
            self._paused_until = None

    def fetch(self, cursors: Mapping[str, str]) -> Fetched:
        """Visitor posts and comments (on recent Page posts), then ratings and Messenger when available."""
        self._check_pause()
        now = utcnow()
        result = Fetched()
        since = self._since(cursors.get(STREAM_PAGE), now)
        result.posts.extend(self._read_page(since, now))
        result.cursors[STREAM_PAGE] = str(int(now.timestamp()))
        for stream, read in ((STREAM_RATINGS, self._read_ratings), (STREAM_MESSAGES, self._read_messages)):
            if stream in self._optional_off or (stream == STREAM_RATINGS and not self.ratings_available):
                continue
            try:
                result.posts.extend(read(self._since(cursors.get(stream), now)))
            except (AuthFailed, Rejected) as exc:
                # Optional streams: a missing permission or a removed feature turns the stream off, not the Page.
                self._optional_off[stream] = exc.message
                log.warning("facebook: not reading %s any more in this process: %s", stream.split(":")[1], exc.message)
                continue
            result.cursors[stream] = str(int(now.timestamp()))
        result.posts = [p for p in result.posts if p.author.external_id != self.page_id]
        return result

    def _read_page(self, since: datetime, now: datetime) -> list[Post]:
        posts: list[Post] = []
        oldest = min(since, now - POST_LOOKBACK)
        feed = self._pages(f"{self.page_id}/feed", {"fields": _POST_FIELDS, "since": int(oldest.timestamp()), "limit": 25},
                           need="pages_read_engagement")
        for count, item in enumerate(feed):
            if count >= MAX_POSTS:
                break
            post_id = str(item.get("id", ""))
            if not post_id:
                continue
            message = str(item.get("message") or "")
            self._remember_post(post_id, message)
            created = _parse_time(item["created_time"]) if item.get("created_time") else now
            author = item.get("from") or {}
            if author.get("id") and str(author["id"]) != self.page_id and created >= since:
                posts.append(self._visitor_post(item, created))
            updated = _parse_time(item["updated_time"]) if item.get("updated_time") else now
            if updated >= since:
                posts.extend(self._read_comments(post_id, message, since))
        return posts

    def _read_comments(self, post_id: str, post_text: str, since: datetime) -> list[Post]:
        params = {"fields": _COMMENT_FIELDS, "filter": "stream", "order": "reverse_chronological",
                  "since": int(since.timestamp()), "limit": 100}
        posts = []
        for item in self._pages(f"{post_id}/comments", params, need="pages_read_user_content"):
            created = _parse_time(item["created_time"]) if item.get("created_time") else utcnow()
            if created < since:
                break  # newest first: everything after this is older still
            posts.append(self._comment_post(item, post_id, post_text, created))
        return posts

    def _comment_post(self, item: dict, post_id: str, post_text: str, created: datetime) -> Post:
        author = item.get("from") or {}
        parent = str((item.get("parent") or {}).get("id") or "")
        comment_id = str(item["id"])
        return Post(
            network=self.name,
            external_id=comment_id,
            text=str(item.get("message") or ""),
            author=Author(external_id=str(author.get("id") or ""), name=str(author.get("name") or "")),
            created_at=created,
            url=str(item.get("permalink_url") or self._comment_url(post_id, comment_id)),
            conversation_id=post_id,
            in_reply_to_id=parent if parent and parent != post_id else "",
            kind="comment",
            engagement=int(item.get("like_count") or 0) + int(item.get("comment_count") or 0),
            context=post_text[:CONTEXT_CHARS],
            raw=item,
        )

    def _visitor_post(self, item: dict, created: datetime) -> Post:
        author = item.get("from") or {}
        post_id = str(item["id"])
        return Post(
            network=self.name,
            external_id=post_id,
            text=str(item.get("message") or ""),
            author=Author(external_id=str(author.get("id") or ""), name=str(author.get("name") or "")),
            created_at=created,
            url=str(item.get("permalink_url") or self._post_url(post_id)),
            conversation_id=post_id,
            kind="visitor_post",
            raw=item,
        )

    def _read_ratings(self, since: datetime) -> list[Post]:
        params = {"fields": "created_time,recommendation_type,review_text,reviewer,open_graph_story", "limit": 25}
        posts = []
        for item in self._pages(f"{self.page_id}/ratings", params, need="pages_read_user_content"):
            created = _parse_time(item["created_time"]) if item.get("created_time") else utcnow()
            if created < since:
                break
            story = str((item.get("open_graph_story") or {}).get("id") or "")
            reviewer = item.get("reviewer") or {}
            if story:
                posts.append(self._rating_post(story, str(item.get("review_text") or ""), str(reviewer.get("id") or ""),
                                               str(reviewer.get("name") or ""), str(item.get("recommendation_type") or "").lower(),
                                               created, item))
        return posts

    def _rating_post(self, story: str, text: str, reviewer_id: str, reviewer_name: str, recommendation: str,
                     created: datetime, raw: dict) -> Post:
        verdict = {"positive": "recommends", "negative": "does not recommend"}.get(recommendation, "reviewed")
        return Post(
            network=self.name,
            external_id=story,
            text=text,
            author=Author(external_id=reviewer_id, name=reviewer_name),
            created_at=created,
            url=self._post_url(story),
            conversation_id=story,
            kind="rating",
            context=f"A review: {verdict} the Page",
            verdict=recommendation if recommendation in ("positive", "negative") else "",
            raw=raw,
        )

    def _read_messages(self, since: datetime) -> list[Post]:
        posts = []
        conversations = self._pages(f"{self.page_id}/conversations",
                                    {"platform": "messenger", "fields": "id,updated_time", "limit": 25},
                                    need="pages_messaging")
        for conversation in conversations:
            if conversation.get("updated_time") and _parse_time(conversation["updated_time"]) < since:
                break  # most recently updated first
            messages = self._pages(f"{conversation['id']}/messages",
                                   {"fields": "id,message,created_time,from", "limit": 25}, need="pages_messaging")
            for message in messages:
                created = _parse_time(message["created_time"]) if message.get("created_time") else utcnow()
                if created < since:
                    break
                sender = message.get("from") or {}
                if str(sender.get("id") or "") == self.page_id:
                    continue
                posts.append(self._message_post(str(message["id"]), str(message.get("message") or ""),
                                                str(sender.get("id") or ""), str(sender.get("name") or ""), created, message))
        return posts

    def _message_post(self, mid: str, text: str, psid: str, name: str, created: datetime, raw: dict) -> Post:
        return Post(
            network=self.name,
            external_id=mid,
            text=text,
            author=Author(external_id=psid, name=name),
            created_at=created,
            url=f"https://business.facebook.com/latest/inbox/messenger?asset_id={self.page_id}",
            conversation_id=f"messenger:{psid}",
            kind="message",
            context="A private Messenger message to the Page",
            raw=raw,
        )

    def _remember_post(self, post_id: str, message: str) -> None:
        with self._lock:
            self._post_text[post_id] = message
            self._post_text.move_to_end(post_id)
            while len(self._post_text) > 500:
                self._post_text.popitem(last=False)

    def _post_message(self, post_id: str) -> str:
        """The Page post a comment is about, for the card; best effort (a webhook must not wait long)."""
        with self._lock:
            if post_id in self._post_text:
                return self._post_text[post_id]
        try:
            message = str(self._call(post_id, params={"fields": "message"}, quick=True).get("message") or "")
        except NetworkError as exc:
            log.info("facebook: could not read post %s for context: %s", post_id, exc.message)
            return ""
        self._remember_post(post_id, message)
        return message

    def _post_url(self, post_id: str) -> str:
        page, _, local = post_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{local}/" if local else f"https://www.facebook.com/{post_id}"

    def _comment_url(self, post_id: str, comment_id: str) -> str:
        return f"{self._post_url(post_id)}?comment_id={_local_id(comment_id)}"

    # -- out --------------------------------------------------------------------

    def reply_length(self, text: str) -> int:
        return len(text)

    def draft_notes(self, text: str) -> list[str]:
        return []

    def reply_public(self, target: Target, text: str) -> SentReply:
        """A comment under the customer's comment (or post, or review); for Messenger, an answer in the conversation."""
        if target.kind == "message":
            return self._send_message({"id": target.author_external_id}, text)
        response = self._call(f"{target.external_id}/comments", data={"message": text}, write=True,
                              need="pages_manage_engagement")
        reply_id = str(response.get("id") or "")
        return SentReply(external_id=reply_id, url=self._reply_url(reply_id))

    def post_status(self, text: str) -> SentReply:
        """A post on the Page's own timeline (an incident status update)."""
        response = self._call(f"{self.page_id}/feed", data={"message": text}, write=True, need="pages_manage_posts")
        post_id = str(response.get("id") or "")
        return SentReply(external_id=post_id, url=self._reply_url(post_id))

    def _reply_url(self, reply_id: str) -> str:
        if not reply_id:
            return ""
        try:
            return str(self._call(reply_id, params={"fields": "permalink_url"}, quick=True).get("permalink_url") or "")
        except NetworkError:
            return ""  # the reply is out; only the link is missing

    def reply_private(self, target: Target, text: str) -> SentReply:
        """A private reply through Messenger to the person who commented (or posted on the Page)."""
        if target.kind == "message":
            return self._send_message({"id": target.author_external_id}, text)
        blocker = self._blocker(target, utcnow(), quick=False)
        if blocker == NO_DM_TWICE:
            raise Rejected("a private reply to this comment was already sent, and Facebook allows only one")
        if blocker:
            raise Rejected(blocker)
        key = "comment_id" if target.kind == "comment" else "post_id"
        try:
            sent = self._send_message({key: target.external_id}, text)
        except Rejected as exc:
            if NO_DM_TWICE in exc.message:
                self._private_sent.add(target.external_id)
            raise
        self._private_sent.add(target.external_id)
        return sent

    def _send_message(self, recipient: dict, text: str) -> SentReply:
        """Messenger Send API; Meta itself refuses answers more than 24 hours after the person's last message."""
        if len(text) > MESSAGE_LIMIT:
            raise Rejected(f"Messenger messages may be at most {MESSAGE_LIMIT} characters; this one has {len(text)}")
        data = {"recipient": json.dumps(recipient), "message": json.dumps({"text": text}), "messaging_type": "RESPONSE"}
        response = self._call(f"{self.page_id}/messages", data=data, write=True, need="pages_messaging")
        return SentReply(external_id=str(response.get("message_id") or ""), url="")

    def private_reply_blocker(self, target: Target, now: datetime) -> str | None:
        return self._blocker(target, now, quick=True)

    def find_reply(self, target: Target, kind: str, text: str, since: datetime) -> SentReply | None:
        """The Page's reply under this comment or post (public), or its private reply, if Facebook shows one.

        Asked before resending a reply whose outcome is unknown; NetworkError means Facebook could not say.
        """
        if target.kind == "message":
            raise CannotLook("Facebook offers no way to look up a Messenger answer; check the conversation")
        if kind != "public":
            item = self._call(target.external_id, params={"fields": "can_reply_privately"})
            # False once a private reply went out: the one the bot may have sent.
            return SentReply(external_id="", url="") if item.get("can_reply_privately") is False else None
        found = []
        for item in self._pages(f"{target.external_id}/comments", {"fields": "id,from,message,created_time", "filter": "stream", "limit": 100}):
            author = (item.get("from") or {}).get("id")
            try:
                created = _parse_time(item["created_time"]) if item.get("created_time") else None
            except ValueError:
                created = None
            if str(author) == str(self.page_id) and (created is None or created >= since - timedelta(minutes=1)):
                found.append(item)
        best = next((c for c in found if c.get("message") == text), found[0] if found else None)
        if best is None:
            return None
        return SentReply(external_id=str(best["id"]), url=self._reply_url(str(best["id"])))

    def _blocker(self, target: Target, now: datetime, *, quick: bool) -> str | None:
        if target.kind == "message":
            return "this is already a private Messenger conversation; Approve answers it there"
        if target.kind == "rating":
            return "Facebook has no private replies to reviews"
        if now - target.created_at > PRIVATE_REPLY_WINDOW:
            return NO_DM_WINDOW
        if target.external_id in self._private_sent:
            return NO_DM_TWICE
        try:
            item = self._call(target.external_id, params={"fields": "can_reply_privately"}, quick=quick)
        except NetworkError:
            if quick:
                return None  # the modal opens anyway; sending checks again
            raise
        if item.get("can_reply_privately") is False:
            # Meta's own flag: it is false once a private reply went out (from here, another tool or a lost answer).
            self._private_sent.add(target.external_id)
            return NO_DM_TWICE
        return None

    # -- webhooks ---------------------------------------------------------------

    def webhook_challenge(self, query: Mapping[str, str]) -> tuple[int, str]:
        """Meta's subscription handshake: echo hub.challenge if hub.verify_token is ours."""
        token = query.get("hub.verify_token", "")
        if (query.get("hub.mode") == "subscribe" and self._verify_token and token
                and hmac.compare_digest(token.encode(), self._verify_token.encode())):
            return 200, query.get("hub.challenge", "")
        return 403, "verification failed"

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """X-Hub-Signature-256: hex HMAC-SHA256 of the raw body with the app secret."""
        given = headers.get("x-hub-signature-256", "")
        if not self._app_secret or not given.startswith("sha256="):
            return False
        expected = "sha256=" + hmac.new(self._app_secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.encode(), expected.encode())

    def parse_webhook(self, body: bytes) -> list[Post]:
        return self.parse_webhook_events(body).posts

    def parse_webhook_events(self, body: bytes) -> WebhookEvents:
        """Posts, deletions and hides from one delivery; a bad part is noted and the rest still counts."""
        events = WebhookEvents()
        for entry in meta_entries(body, events, kind="page", kind_word="a page", owner=self.page_id, owner_word="Page"):
            for change in entry.get("changes") or []:
                self._safely(events, self._change, change)
            for message in entry.get("messaging") or []:
                self._safely(events, self._messaging, message)
        return events

    def _safely(self, events: WebhookEvents, handler, item) -> None:
        try:
            if not isinstance(item, dict):
                raise TypeError("not an object")
            handler(events, item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            events.problems.append(f"{handler.__name__.strip('_')}: {type(exc).__name__} {str(exc)[:80]}")

    def _change(self, events: WebhookEvents, change: dict) -> None:
        field_name, value = change.get("field"), change["value"]
        if not isinstance(value, dict):
            raise TypeError("value is not an object")
        if field_name == "ratings":
            if value.get("item") == "rating" and value.get("verb", "add") == "add" and value.get("open_graph_story_id"):
                events.posts.append(self._rating_post(
                    str(value["open_graph_story_id"]), str(value.get("review_text") or ""),
                    str(value.get("reviewer_id") or ""), str(value.get("reviewer_name") or ""),
                    str(value.get("recommendation_type") or "").lower(), _parse_time(value.get("created_time") or utcnow().timestamp()),
                    value))
            else:
                events.ignored.append(f"ratings {value.get('item')} {value.get('verb')}")
            return
        if field_name != "feed":
            events.ignored.append(f"field {str(field_name)[:30]}")
            return
        item, verb = value.get("item"), value.get("verb")
        author = _author(value)
        if item == "comment":
            comment_id = str(value["comment_id"])
            if verb in ("remove", "hide", "unhide"):
                events.changes.append(VisibilityChange(comment_id, {"remove": "removed", "hide": "hidden"}.get(verb, "visible")))
                return
            if verb not in ("add", "edited"):
                events.ignored.append(f"comment {verb}")
                return
            if str(author.get("id") or "") == self.page_id:
                events.ignored.append("our own comment")
                return
            post_id = str(value.get("post_id") or (value.get("post") or {}).get("id") or "")
            parent = str(value.get("parent_id") or "")
            created = _parse_time(value["created_time"]) if value.get("created_time") else utcnow()
            item_json = {"id": comment_id, "message": value.get("message") or "", "from": author,
                         "parent": {"id": parent} if parent and parent != post_id else None}
            events.posts.append(self._comment_post(item_json, post_id, self._post_message(post_id) if post_id else "", created))
            return
        if item in ("status", "post", "photo", "video", "share"):
            post_id = str(value.get("post_id") or value.get("photo_id") or value.get("video_id") or value["post_id"])
            if verb in ("remove", "hide", "unhide"):
                events.changes.append(VisibilityChange(post_id, {"remove": "removed", "hide": "hidden"}.get(verb, "visible"), "post"))
                return
            if verb != "add" or not author.get("id") or str(author["id"]) == self.page_id:
                events.ignored.append(f"{item} {verb}")
                return
            created = _parse_time(value["created_time"]) if value.get("created_time") else utcnow()
            message = value.get("message") or (f"[a {item}: open it on Facebook]" if item in ("photo", "video") else "")
            events.posts.append(self._visitor_post({"id": post_id, "message": message, "from": author}, created))
            return
        events.ignored.append(f"feed {str(item)[:20]} {str(verb)[:20]}")

    def _messaging(self, events: WebhookEvents, event: dict) -> None:
        message = event.get("message")
        sender = str((event.get("sender") or {}).get("id") or "")
        if not isinstance(message, dict):
            events.ignored.append("messaging " + next((k for k in ("delivery", "read", "postback", "reaction") if k in event), "event"))
            return
        if message.get("is_echo") or sender == self.page_id:
            events.ignored.append("our own message")
            return
        if message.get("is_deleted"):
            # The customer unsent it: close what it opened, as for a deleted comment; never an empty card.
            events.changes.append(VisibilityChange(str(message["mid"]), "removed", "message"))
            return
        text = str(message.get("text") or "")
        if not text and message.get("attachments"):
            text = "[an attachment: open the conversation on Facebook]"
        if not text:
            events.problems.append("a Messenger message with neither text nor attachments")
            return
        created = _parse_time(event["timestamp"]) if event.get("timestamp") else utcnow()
        events.posts.append(self._message_post(str(message["mid"]), text, sender, self._person_name(sender), created, event))

    def _person_name(self, psid: str) -> str:
        """Messenger webhooks carry only the page-scoped id; the name is a best-effort lookup."""
        if not psid:
            return ""
        try:
            return str(self._call(psid, params={"fields": "name"}, quick=True).get("name") or "")
        except NetworkError as exc:
            log.info("facebook: no name for a Messenger sender: %s", exc.message)
            return ""
