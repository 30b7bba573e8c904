"""X (Twitter) through tweepy's v2 Client: mentions and brand search in, replies and DMs out."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Mapping

import requests
import tweepy
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.clock import utcnow
from bot.domain.posts import Author, Post, SentReply
from bot.config import FileConfig, Settings, XConfig, secret
from bot.domain.replylength import has_link, weighted_length
from bot.domain.spend import Meter, pace_wait, write_operation
from bot.networks.base import (
    AuthFailed,
    BudgetPaused,
    Fetched,
    NetworkError,
    NetworkInfo,
    WebhookEvents,
    own_settings,
    RateLimited,
    Rejected,
    Target,
    Unavailable,
    Uncertain,
)
from bot.networks.transport import BaseURLTransport

log = logging.getLogger(__name__)
# tweepy logs request headers (the bearer token) at DEBUG: keep it quieter than that.
logging.getLogger("tweepy").setLevel(logging.INFO)

X_HOST = "https://api.twitter.com"
INFO = NetworkInfo(name="x", label="X", emoji=":bird:", colour="#1f2937", sla=timedelta(minutes=15),
                   challenge_media_type="application/json", bad_signature_status=401)
TWEET_FIELDS = ["created_at", "author_id", "conversation_id", "in_reply_to_user_id", "public_metrics", "referenced_tweets"]
USER_FIELDS = ["username", "name", "public_metrics"]


def unescape(text: str) -> str:
    """X sends `&`, `<` and `>` as `&amp; &lt; &gt;` (and only those): undo that once, here, so Slack escapes once."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


NOT_SUMMONED = ("X lets the brand reply through its API only to posts that mention or quote @{handle} "
                "(X's rule since February 2026): answer this one on X")


def _is_retweet(tweet) -> bool:
    return any(ref.type == "retweeted" for ref in (tweet.referenced_tweets or []))


def _problem(exc: tweepy.HTTPException) -> str:
    messages = list(getattr(exc, "api_messages", []) or [])
    return "; ".join(messages) or f"HTTP {exc.response.status_code}"


def _refused(exc: Exception) -> bool:
    """The request never reached X (nothing can have been posted)."""
    return isinstance(exc, requests.ConnectTimeout) or "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)


def _translate(exc: Exception, *, write: bool) -> NetworkError:
    """Map tweepy/requests errors onto the network error kinds the domain understands."""
    if isinstance(exc, tweepy.TooManyRequests):
        retry_after = None
        if exc.reset_time:
            retry_after = max(1.0, exc.reset_time - utcnow().timestamp())
        return RateLimited("X rate limit reached", retry_after=retry_after)
    if isinstance(exc, tweepy.Unauthorized):
        return AuthFailed("X refused the credentials (401): check the X_* keys and tokens")
    if isinstance(exc, tweepy.TwitterServerError):
        return Unavailable(f"X had a server error ({exc.response.status_code})")
    if isinstance(exc, tweepy.HTTPException):
        return Rejected(f"X refused it: {_problem(exc)}")
    if isinstance(exc, requests.Timeout) and write and not isinstance(exc, requests.ConnectTimeout):
        return Uncertain("X did not answer in time; the reply may or may not have been posted")
    if isinstance(exc, requests.ConnectionError) and write and not _refused(exc):
        return Uncertain("the connection to X broke before it answered; the reply may or may not have been posted")
    if isinstance(exc, requests.RequestException):
        return Unavailable(f"X could not be reached: {type(exc).__name__}")
    raise exc


class XSettings(BaseSettings):
    """`X_*`: the app's and the brand account's credentials, and where X is."""

    model_config = SettingsConfigDict(env_prefix="X_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bearer_token: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    search_query: str = ""   # extra brand search besides mentions
    user_id: str = ""        # the brand account's id (saves a get_me call)
    api_url: str = X_HOST

    def credentials(self) -> list[str]:
        return [secret(s) for s in (self.bearer_token, self.api_key, self.api_secret, self.access_token, self.access_token_secret)]


def settings_from(settings: Settings) -> XSettings:
    return own_settings(XSettings, settings, "x_")


def secret_values(settings: Settings) -> list[str]:
    return [value for value in settings_from(settings).credentials() if value]


def half_configured(settings: Settings) -> str | None:
    given = settings_from(settings).credentials()
    if any(given) and not all(given):
        return ("some X_* credentials are set but not all five (X_BEARER_TOKEN, X_API_KEY, X_API_SECRET, "
                "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET): X is off")
    return None


def build(settings: Settings, config: FileConfig, db=None) -> "XNetwork | None":
    """X is on when all five X_* credentials are set."""
    own = settings_from(settings)
    if not all(own.credentials()):
        return None
    return XNetwork(
        bearer_token=secret(own.bearer_token),
        api_key=secret(own.api_key),
        api_secret=secret(own.api_secret),
        access_token=secret(own.access_token),
        access_token_secret=secret(own.access_token_secret),
        api_url=own.api_url,
        search_query=own.search_query,
        user_id=own.user_id,
        costs=config.x,
        meter=Meter(db, INFO.name) if db is not None else None,
    )


def _after(moment: datetime | None, since: datetime) -> bool:
    """Posted at or after `since` (a minute of slack for clocks that disagree); unknown times count."""
    return moment is None or moment >= since - timedelta(minutes=1)


class XNetwork:
    info = INFO
    name = INFO.name
    label = INFO.label
    reply_limit = 280

    def __init__(
        self,
        *,
        bearer_token: str,
        api_key: str,
        api_secret: str,
        access_token: str,
        access_token_secret: str,
        api_url: str = X_HOST,
        search_query: str = "",
        user_id: str = "",
        costs: XConfig | None = None,
        meter: Meter | None = None,
    ):
        self.client = tweepy.Client(
            bearer_token=bearer_token,
            consumer_key=api_key,
            consumer_secret=api_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            wait_on_rate_limit=False,  # its sleep blocks and recurses; the scheduler backs off instead
        )
        transport = BaseURLTransport(api_url)
        self.client.session.mount("https://", transport)
        self.client.session.mount("http://", transport)
        self.consumer_secret = api_secret
        self.search_query = search_query
        self._user_id = user_id
        self._username = ""
        self.costs = costs or XConfig()
        self.meter = meter

    # -- what it costs (X bills per post read and per post written) -------------

    @property
    def monthly_budget(self) -> float:
        return self.costs.monthly_budget

    def _bill(self, operation: str, units: int) -> None:
        """Record a billed call; losing the record must not lose the posts or the reply."""
        if self.meter is None or units <= 0:
            return
        try:
            self.meter.record(operation, units, getattr(self.costs.prices, operation) * units)
        except Exception:  # noqa: BLE001 - bookkeeping only
            log.exception("x: could not record what an API call cost")

    def _budget_wait(self) -> tuple[float, timedelta]:
        if self.meter is None or self.costs.monthly_budget <= 0:
            return 0.0, timedelta(0)
        now = utcnow()
        spent = self.meter.spent_this_month(now)
        return spent, pace_wait(spent, self.costs.monthly_budget, now)

    def draft_notes(self, text: str) -> list[str]:
        """What the editor should say about a draft beyond its length: a link makes the reply far dearer."""
        if not has_link(text):
            return []
        prices = self.costs.prices
        return [f"This reply contains a link: X charges ${prices.post_with_link:.3f} for it instead of ${prices.reply:.3f}. "
                "Leave the link out unless it is needed"]

    # -- identity -------------------------------------------------------------

    def _me(self) -> tuple[str, str]:
        if not self._user_id or not self._username:
            try:
                me = self.client.get_me(user_auth=True).data
            except Exception as exc:  # noqa: BLE001 - translated below
                raise _translate(exc, write=False) from exc
            self._bill("owned_read", 1)
            self._user_id, self._username = str(me.id), me.username
        return self._user_id, self._username

    def own_ids(self) -> set[str]:
        return {self._me()[0]}

    def check(self) -> str:
        """Who we are, and what the app's permission (OAuth 1.0a's x-access-level header) lets socialdesk do."""
        user_id, username = self._me()
        try:
            level = self.client.request("GET", "/2/users/me", user_auth=True).headers.get("x-access-level", "")
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, write=False) from exc
        fix = ('set the app\'s permissions to "Read and write and Direct message" in the X developer portal '
               "(User authentication settings), then regenerate X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET")
        if level == "read":
            raise AuthFailed(f"@{username} can only read (the app's permission is read-only), so no reply can be sent: {fix}")
        if level == "read-write":
            return f"@{username} (id {user_id}) · replies on; direct messages off, so Move to DM will fail: {fix}"
        return f"@{username} (id {user_id})" + (" · replies and direct messages on" if level else "")

    # -- in ---------------------------------------------------------------------

    def fetch(self, cursors: Mapping[str, str]) -> Fetched:
        spent, wait = self._budget_wait()
        if wait > timedelta(0):
            raise BudgetPaused(f"X API budget: ${spent:.2f} of ${self.costs.monthly_budget:.2f} spent this month; "
                               "polling slows down to stay within it (webhooks still arrive)", retry_after=wait.total_seconds())
        user_id, _ = self._me()
        result = Fetched()
        streams = {"x:mentions": lambda since: self._page(self.client.get_users_mentions, user_id, since_id=since, kind="mention")}
        if self.search_query:
            query = f"({self.search_query}) -is:retweet"
            streams["x:search"] = lambda since: self._page(self.client.search_recent_tweets, query, since_id=since, kind="search")
        for stream, read in streams.items():
            posts, newest = read(cursors.get(stream))
            result.posts.extend(posts)
            if newest:
                result.cursors[stream] = newest
        own = self.own_ids()
        result.posts = [p for p in result.posts if p.author.external_id not in own]
        return result

    def _page(self, method, first_arg, *, since_id: str | None, kind: str) -> tuple[list[Post], str | None]:
        """Read every page newer than since_id; the cursor only moves once all pages are read."""
        posts: list[Post] = []
        newest: str | None = None
        token = None
        token_param = "pagination_token" if kind == "mention" else "next_token"
        while True:
            # Search hits may quote us without naming us: the quoted post's author says whether X lets us answer.
            expansions = ["author_id"] + (["referenced_tweets.id"] if kind == "search" else [])
            params = {"since_id": since_id, "max_results": 100, "expansions": expansions,
                      "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
            if token:
                params[token_param] = token
            try:
                response = method(first_arg, **params)
            except Exception as exc:  # noqa: BLE001 - translated below
                raise _translate(exc, write=False) from exc
            includes = response.includes or {}
            users = {str(u.id): u for u in includes.get("users", [])}
            quoted = {str(t.id): str(t.author_id) for t in includes.get("tweets", [])}
            self._bill("owned_read" if kind == "mention" else "post_read", len(response.data or []))
            self._bill("user_read", len(users))
            self._bill("post_read", len(quoted))
            for tweet in response.data or []:
                if _is_retweet(tweet):
                    continue  # a repost is not the customer talking to us; search excludes them too
                post = self._to_post(tweet, users.get(str(tweet.author_id)), kind)
                if kind == "search":
                    quotes = [quoted.get(str(r.id), "") for r in tweet.referenced_tweets or [] if r.type == "quoted"]
                    post = self._with_summons(post, quoted_authors=quotes, replied_to=str(tweet.in_reply_to_user_id or ""))
                posts.append(post)
            meta = response.meta or {}
            if newest is None and meta.get("newest_id"):
                newest = str(meta["newest_id"])
            token = meta.get("next_token")
            if not token:
                return posts, newest

    def _with_summons(self, post: Post, *, quoted_authors: list[str], replied_to: str) -> Post:
        """Mark a post X will not let us answer through the API: its author neither mentioned nor quoted us."""
        user_id, username = self._me()
        mentions = re.search(rf"(?<![\w@])@{re.escape(username)}(?!\w)", post.text, re.IGNORECASE)
        if mentions or user_id in quoted_authors or replied_to == user_id:
            return post
        return replace(post, reply_blocker=NOT_SUMMONED.format(handle=username))

    def _to_post(self, tweet, user, kind: str) -> Post:
        metrics = tweet.public_metrics or {}
        followers = ((user.public_metrics or {}).get("followers_count", 0)) if user else 0
        handle = user.username if user else ""
        in_reply_to = ""
        for ref in tweet.referenced_tweets or []:
            if ref.type == "replied_to":
                in_reply_to = str(ref.id)
        created = tweet.created_at or utcnow()
        return Post(
            network=self.name,
            external_id=str(tweet.id),
            text=unescape(tweet.text or ""),
            author=Author(external_id=str(tweet.author_id), handle=handle, name=user.name if user else "", followers=int(followers)),
            created_at=created,
            url=f"https://x.com/{handle or 'i'}/status/{tweet.id}",
            conversation_id=str(tweet.conversation_id or tweet.id),
            in_reply_to_id=in_reply_to,
            kind=kind,
            engagement=sum(int(metrics.get(k, 0)) for k in ("like_count", "retweet_count", "reply_count", "quote_count")),
            raw=dict(tweet.data),
        )

    # -- out --------------------------------------------------------------------

    def reply_length(self, text: str) -> int:
        return weighted_length(text)

    def reply_public(self, target: Target, text: str) -> SentReply:
        try:
            response = self.client.create_tweet(text=text, in_reply_to_tweet_id=target.external_id, user_auth=True)
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, write=True) from exc
        self._bill(write_operation("reply", text), 1)
        tweet_id = str(response.data["id"])
        _, username = self._me()
        return SentReply(external_id=tweet_id, url=f"https://x.com/{username}/status/{tweet_id}")

    def post_status(self, text: str) -> SentReply:
        """A post on the brand's own timeline (an incident status update), not a reply."""
        try:
            response = self.client.create_tweet(text=text, user_auth=True)
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, write=True) from exc
        self._bill(write_operation("post", text), 1)
        tweet_id = str(response.data["id"])
        _, username = self._me()
        return SentReply(external_id=tweet_id, url=f"https://x.com/{username}/status/{tweet_id}")

    def reply_private(self, target: Target, text: str) -> SentReply:
        try:
            response = self.client.create_direct_message(participant_id=target.author_external_id, text=text, user_auth=True)
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, write=True) from exc
        self._bill("dm", 1)
        data = response.data or {}
        return SentReply(external_id=str(data.get("dm_event_id", "")), url="")

    def private_reply_blocker(self, target: Target, now: datetime) -> str | None:
        return None  # X answers DMs-closed only when we try; that refusal is shown on the card

    # -- did it go out? -----------------------------------------------------------

    def find_reply(self, target: Target, kind: str, text: str, since: datetime) -> SentReply | None:
        """The brand's reply to this post (public) or DM to its author (private) sent since `since`, if X has it.

        Asked before resending a reply whose outcome is unknown; NetworkError means X could not say.
        """
        user_id, username = self._me()
        try:
            if kind == "public":
                response = self.client.search_recent_tweets(
                    f"in_reply_to_tweet_id:{target.external_id} from:{username}", max_results=100,
                    tweet_fields=["created_at", "author_id", "referenced_tweets"], user_auth=True,
                )
                found = [t for t in response.data or [] if str(t.author_id) == user_id and _after(t.created_at, since)]
                best = next((t for t in found if t.text == text), found[0] if found else None)
                return SentReply(external_id=str(best.id), url=f"https://x.com/{username}/status/{best.id}") if best else None
            response = self.client.get_direct_message_events(
                participant_id=target.author_external_id, dm_event_fields=["created_at", "sender_id", "text"], max_results=100, user_auth=True,
            )
            found = [e for e in response.data or [] if str(e.sender_id) == user_id and e.text == text and _after(e.created_at, since)]
            return SentReply(external_id=str(found[0].id), url="") if found else None
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc, write=False) from exc

    # -- webhooks (account activity) -------------------------------------------

    def webhook_challenge(self, query: Mapping[str, str]) -> tuple[int, str]:
        """Answer X's CRC check: HMAC-SHA256 of crc_token with the consumer secret, base64."""
        token = query.get("crc_token", "")
        if not token:
            return 400, json.dumps({"error": "crc_token missing"})
        digest = hmac.new(self.consumer_secret.encode(), token.encode(), hashlib.sha256).digest()
        return 200, json.dumps({"response_token": "sha256=" + base64.b64encode(digest).decode()})

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get("x-twitter-webhooks-signature", "")
        digest = hmac.new(self.consumer_secret.encode(), body, hashlib.sha256).digest()
        return bool(given) and hmac.compare_digest(given, "sha256=" + base64.b64encode(digest).decode())

    def parse_webhook_events(self, body: bytes) -> WebhookEvents:
        return WebhookEvents(posts=self.parse_webhook(body))

    def parse_webhook(self, body: bytes) -> list[Post]:
        """Turn account-activity `tweet_create_events` (v1.1 objects) into posts, as polling would see them."""
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("webhook body is not a JSON object")
        posts = []
        for event in payload.get("tweet_create_events", []) or []:
            if not isinstance(event, dict):
                raise TypeError("a tweet_create_event is not an object")
            if event.get("retweeted_status"):
                continue  # a repost of someone else's post: polling leaves these out too
            user = event.get("user") or {}
            tweet_id = str(event.get("id_str") or event.get("id") or "")
            if not tweet_id:
                continue
            text = event.get("extended_tweet", {}).get("full_text") or event.get("full_text") or event.get("text") or ""
            try:
                created = parsedate_to_datetime(event["created_at"])
            except (KeyError, TypeError, ValueError):
                created = utcnow()
            handle = user.get("screen_name", "")
            parent = str(event.get("in_reply_to_status_id_str") or "")
            posts.append(
                Post(
                    network=self.name,
                    external_id=tweet_id,
                    text=unescape(text),
                    author=Author(
                        external_id=str(user.get("id_str") or user.get("id") or ""),
                        handle=handle,
                        name=user.get("name", ""),
                        followers=int(user.get("followers_count") or 0),
                    ),
                    created_at=created,
                    url=f"https://x.com/{handle or 'i'}/status/{tweet_id}",
                    conversation_id=parent or tweet_id,
                    in_reply_to_id=parent,
                    kind="mention",
                    raw=event,
                )
            )
            quoted = str(((event.get("quoted_status") or {}).get("user") or {}).get("id_str") or "")
            posts[-1] = self._with_summons(posts[-1], quoted_authors=[quoted],
                                           replied_to=str(event.get("in_reply_to_user_id_str") or ""))
        own = {str(payload.get("for_user_id", ""))} | ({self._user_id} if self._user_id else set())
        return self._thread_roots([p for p in posts if p.author.external_id not in own])

    def _thread_roots(self, posts: list[Post]) -> list[Post]:
        """v1.1 events name only the parent; polling files a reply under its thread's root, so look the roots up.

        One batched read for all the replies in a delivery; if X cannot be asked, the parent stands in
        (the case domain still joins a reply to the case of a parent it knows).
        """
        replies = [p.external_id for p in posts if p.in_reply_to_id]
        if not replies:
            return posts
        spent, _ = self._budget_wait()
        if self.costs.monthly_budget > 0 and spent >= self.costs.monthly_budget:
            log.warning("x webhook: the month's API budget is spent; replies are filed under their parent")
            return posts
        try:
            response = self.client.get_tweets(replies[:100], tweet_fields=["conversation_id"])
        except Exception as exc:  # noqa: BLE001 - translated and logged; the posts still go in
            log.warning("x webhook: could not look up conversation roots: %s", _translate(exc, write=False).message)
            return posts
        self._bill("post_read", len(response.data or []))
        roots = {str(t.id): str(t.conversation_id) for t in response.data or [] if t.conversation_id}
        return [replace(p, conversation_id=roots.get(p.external_id, p.conversation_id)) for p in posts]
