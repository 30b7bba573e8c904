"""A stateful local X API v2 (the routes socialdesk calls through tweepy) plus X webhook helpers."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import time
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from bot.domain.replylength import weighted_length
from bot.emulators.http import EmulatorServer, Reply, Request


API_HOST = "https://api.twitter.com"
WINDOW_SECONDS = 15 * 60
READ_LIMIT, WRITE_LIMIT = 450, 100
_SNOWFLAKE_BASE = 1800000000000000000
_TWEET_FIELDS = ("created_at", "author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets",
                 "public_metrics", "lang")
_ROUTES = [
    ("GET", r"/2/users/me", "me"),
    ("GET", r"/2/users/by/username/(?P<username>\w+)", "user_by_username"),
    ("GET", r"/2/users/(?P<id>\d+)/mentions", "mentions"),
    ("GET", r"/2/users/(?P<id>\d+)", "user"),
    ("GET", r"/2/tweets/search/recent", "search"),
    ("GET", r"/2/tweets", "lookup"),
    ("POST", r"/2/tweets", "create_tweet"),
    ("DELETE", r"/2/tweets/(?P<id>\d+)", "delete_tweet"),
    ("POST", r"/2/dm_conversations/with/(?P<id>\d+)/messages", "dm"),
    ("GET", r"/2/dm_conversations/with/(?P<id>\d+)/dm_events", "dm_events"),
]
_USER_CONTEXT_ROUTES = frozenset({"me", "create_tweet", "delete_tweet", "dm", "dm_events"})
# Search operators the emulator honours (the rest are ignored): who wrote it, what it answers, which conversation.
_OPERATORS = re.compile(r"(?<!\S)(from|in_reply_to_tweet_id|conversation_id):(\S+)")


def _problem(status: int, detail: str | None = None, type_: str = "about:blank", **extra: Any) -> dict:
    title = HTTPStatus(status).phrase
    return {"title": title, "type": type_, "status": status, "detail": detail or title, **extra}


def _invalid(message: str, **parameters: Any) -> Reply:
    """X's 400 for a bad parameter (no `status` key, unlike other problems)."""
    return 400, {}, {
        "errors": [{"parameters": {k: [str(v)] for k, v in parameters.items()}, "message": message}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


# X's answer to a reply its 2026 rule forbids; the status and wording were not published, this follows its other 403s.
NOT_SUMMONED_DETAIL = ("Reply to this conversation is not allowed because you have not been mentioned or otherwise "
                       "engaged by the author of the post you are replying to.")


def wire_text(text: str) -> str:
    """X sends `&`, `<` and `>` escaped as HTML entities (and nothing else), in v2 and v1.1 alike."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_time(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _base36(n: int) -> str:
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return digits or "0"


def _matcher(query: str):
    """Search as we emulate it: each word (or one of `a OR b`) must appear as a whole word; operators are ignored."""
    groups: list[list[re.Pattern]] = []
    join_next = False
    for token in re.findall(r'"[^"]*"|\S+', query):
        if token == "OR":
            join_next = bool(groups)
            continue
        word = token.strip('"()')
        if not word or token.startswith("-") or ":" in token:
            continue
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        if join_next:
            groups[-1].append(pattern)
        else:
            groups.append([pattern])
        join_next = False
    return (lambda text: all(any(p.search(text) for p in group) for group in groups)) if groups else None


def crc_response(consumer_secret: str, crc_token: str) -> str:
    """The `response_token` X expects back from a webhook CRC check."""
    digest = hmac.new(consumer_secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def sign_webhook(consumer_secret: str, body: bytes) -> str:
    """The `x-twitter-webhooks-signature` header X puts on webhook POSTs."""
    return "sha256=" + base64.b64encode(hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()).decode()


class XEmulator(EmulatorServer):
    """Answers the X API v2 routes socialdesk uses, with rate-limit headers on every response."""

    def __init__(
        self, brand_id: str = "100", brand_username: str = "acme", bearer_token: str = "x-bearer",
        consumer_secret: str = "x-consumer-secret",
    ) -> None:
        super().__init__()
        self.brand_id = brand_id
        self.brand_username = brand_username
        self.bearer_token = bearer_token
        self.consumer_secret = consumer_secret
        # the app's permission as OAuth 1.0a answers carry it: "read", "read-write" or "read-write-directmessages"
        self.access_level = "read-write-directmessages"
        self._reset_state()

    def _reset_state(self) -> None:
        self._snowflakes = itertools.count(1)
        self._user_ids = itertools.count(200)
        self._users: dict[str, dict] = {}
        self._tweets: dict[str, dict] = {}
        self._dms: list[dict] = []
        self._created: list[dict] = []
        self._limits: dict[str, int] = {}
        self.limited: dict[str, int] = {}  # route -> 429s answered because its window was spent
        self._window_seconds: dict[str, int] = {}  # route -> its window when shorter than X's 15 minutes (benchmarks)
        self._windows: dict[str, list[int]] = {}  # route -> [remaining, reset epoch]
        self.add_user(id=self.brand_id, username=self.brand_username, name=self.brand_username.title())

    def reset(self) -> None:
        """Back to a timeline with only the brand account."""
        with self._lock:
            super().reset()
            self._reset_state()

    # -- seeding -----------------------------------------------------------
    def add_user(self, id: str | None = None, *, username: str, name: str | None = None, followers: int = 0,
                 dms_open: bool = True) -> str:
        with self._lock:
            user_id = id or next(str(n) for n in self._user_ids if str(n) not in self._users)
            self._users[user_id] = {"id": user_id, "username": username, "name": name or username.title(),
                                    "followers": followers, "dms_open": dms_open}
            return user_id

    def add_tweet(
        self, text: str, author_id: str, *, in_reply_to: str | None = None, conversation_id: str | None = None,
        created_at: datetime | str | None = None, likes: int = 0, retweets: int = 0, replies: int = 0,
        quotes: str | None = None,
    ) -> str:
        """Store a post as if it had been published; returns its (snowflake-like, increasing) id."""
        with self._lock:
            if author_id not in self._users:
                raise ValueError(f"unknown author {author_id!r}: add_user() first")
            tweet_id = str(_SNOWFLAKE_BASE + next(self._snowflakes))
            parent = self._tweets.get(in_reply_to) if in_reply_to else None
            tweet = {
                "id": tweet_id, "text": text, "author_id": author_id, "lang": "en",
                "created_at": _parse_time(created_at) if created_at else datetime.now(timezone.utc),
                "conversation_id": conversation_id or (parent["conversation_id"] if parent else in_reply_to)
                or tweet_id,
                "public_metrics": {"retweet_count": retweets, "reply_count": replies, "like_count": likes,
                                   "quote_count": 0, "bookmark_count": 0, "impression_count": 0},
            }
            if in_reply_to:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": in_reply_to}]
                if parent:
                    tweet["in_reply_to_user_id"] = parent["author_id"]
                    parent["public_metrics"]["reply_count"] += 1
            if quotes:
                tweet.setdefault("referenced_tweets", []).append({"type": "quoted", "id": quotes})
            self._tweets[tweet_id] = tweet
            return tweet_id

    def add_retweet(self, tweet_id: str, user_id: str) -> str:
        """A plain repost of `tweet_id` by `user_id`, shaped as X shapes them ("RT @author: text")."""
        with self._lock:
            original = self._tweets[tweet_id]
            author = self._users[original["author_id"]]["username"]
        new_id = self.add_tweet(f"RT @{author}: {original['text']}", user_id)
        with self._lock:
            self._tweets[new_id]["referenced_tweets"] = [{"type": "retweeted", "id": tweet_id}]
            self._tweets[new_id]["conversation_id"] = new_id
            original["public_metrics"]["retweet_count"] += 1
        return new_id

    def set_limit(self, route: str, limit: int, window_seconds: int | None = None) -> None:
        """Shrink a route's rate-limit window (e.g. to 2) so a test can run into a real 429; `window_seconds`
        shortens X's 15-minute window so a benchmark sees many resets in one run."""
        with self._lock:
            self._limits[route] = limit
            if window_seconds:
                self._window_seconds[route] = window_seconds
            self._windows.pop(route, None)

    # -- inspection --------------------------------------------------------
    def tweets_by_brand(self) -> list[dict]:
        """The brand's posts, oldest first, in API shape."""
        with self._lock:
            return [self._render(t, _TWEET_FIELDS) for t in self._sorted() if t["author_id"] == self.brand_id][::-1]

    def replies_to(self, tweet_id: str) -> list[dict]:
        with self._lock:
            return [self._render(t, _TWEET_FIELDS) for t in self._sorted()
                    if {"type": "replied_to", "id": tweet_id} in t.get("referenced_tweets", [])][::-1]

    @property
    def dms(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._dms)

    @property
    def created(self) -> list[dict]:
        """JSON bodies of every accepted POST /2/tweets."""
        with self._lock:
            return copy.deepcopy(self._created)

    def timeline(self) -> list[dict]:
        """Every post, newest first, with its author and what it answers: what the demo page shows as X."""
        with self._lock:
            out = []
            for tweet in self._sorted():
                author = self._users[tweet["author_id"]]
                replied = next((r["id"] for r in tweet.get("referenced_tweets", []) if r["type"] == "replied_to"), None)
                out.append({"id": tweet["id"], "text": tweet["text"], "created_at": _iso(tweet["created_at"]),
                            "in_reply_to": replied, "conversation_id": tweet["conversation_id"],
                            "author": {k: author[k] for k in ("id", "username", "name", "followers")},
                            "by_brand": tweet["author_id"] == self.brand_id})
            return out

    def account_activity_payload(self, tweet_ids: list[str]) -> bytes:
        """A v1.1-style Account Activity `tweet_create_events` delivery for stored tweets."""
        with self._lock:
            events = []
            for tweet in (self._tweets[i] for i in tweet_ids):
                author = self._users[tweet["author_id"]]
                parent_user = self._users.get(tweet.get("in_reply_to_user_id", ""), {})
                refs = {r["type"]: r["id"] for r in tweet.get("referenced_tweets", [])}
                parent = refs.get("replied_to")
                event = {
                    "created_at": tweet["created_at"].strftime("%a %b %d %H:%M:%S +0000 %Y"),
                    "id": int(tweet["id"]), "id_str": tweet["id"], "text": wire_text(tweet["text"]),
                    "timestamp_ms": str(int(tweet["created_at"].timestamp() * 1000)),
                    "in_reply_to_status_id_str": parent,
                    "in_reply_to_user_id_str": tweet.get("in_reply_to_user_id"),
                    "in_reply_to_screen_name": parent_user.get("username"),
                    "user": {"id": int(author["id"]), "id_str": author["id"], "name": author["name"],
                             "screen_name": author["username"], "followers_count": author["followers"]},
                }
                if "quoted" in refs and refs["quoted"] in self._tweets:
                    original = self._tweets[refs["quoted"]]
                    event["is_quote_status"] = True
                    event["quoted_status"] = {"id_str": original["id"], "text": wire_text(original["text"]),
                                              "user": {"id_str": original["author_id"]}}
                if "retweeted" in refs and refs["retweeted"] in self._tweets:
                    original = self._tweets[refs["retweeted"]]
                    event["retweeted_status"] = {"id_str": original["id"], "text": wire_text(original["text"]),
                                                 "user": {"id_str": original["author_id"]}}
                events.append(event)
        return json.dumps({"for_user_id": self.brand_id, "tweet_create_events": events}).encode()

    # -- HTTP plumbing -----------------------------------------------------
    def route(self, method: str, path: str) -> str | None:
        return next((name for verb, pattern, name in _ROUTES if verb == method and re.fullmatch(pattern, path)), None)

    def _consume(self, route: str | None) -> tuple[dict[str, str], bool]:
        """Spend one call of `route`'s 15-minute window: the x-rate-limit-* headers and whether it was allowed."""
        now = int(time.time())
        limit = self._limits.get(route, WRITE_LIMIT if route in ("create_tweet", "delete_tweet", "dm") else READ_LIMIT)
        window = self._windows.get(route)
        if window is None or window[1] <= now:
            window = self._windows[route] = [limit, now + self._window_seconds.get(route, WINDOW_SECONDS)]
        allowed = window[0] > 0
        if allowed:
            window[0] -= 1
        return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(window[0]),
                "x-rate-limit-reset": str(window[1])}, allowed

    def fault_reply(self, request: Request, status: int, body: Any, headers: dict[str, str]) -> Reply:
        with self._lock:
            rate, _ = self._consume(request.route)
        if status == 429:
            rate.update({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 1)})
        return status, {**rate, **headers}, _problem(status) if body is None else body

    def handle(self, request: Request) -> Reply:
        headers, allowed = self._consume(request.route)
        if not allowed:
            with self._lock:
                self.limited[request.route] = self.limited.get(request.route, 0) + 1
            return 429, headers, _problem(429)
        status, extra, body = self._answer(request)
        if request.headers.get("authorization", "").startswith("OAuth "):
            extra = {**extra, "x-access-level": self.access_level}
        return status, {**headers, **extra}, body

    def _answer(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        oauth = auth.startswith("OAuth ") and "oauth_consumer_key=" in auth
        if not (oauth or (auth == f"Bearer {self.bearer_token}" and request.route not in _USER_CONTEXT_ROUTES)):
            return 401, {}, _problem(401)
        if request.route is None:
            return 404, {}, _problem(404, "Sorry, that page does not exist.")
        match = next(re.fullmatch(p, request.path) for v, p, n in _ROUTES if n == request.route)
        return getattr(self, "_route_" + request.route)(request, **match.groupdict())

    # -- rendering ---------------------------------------------------------
    def _sorted(self) -> list[dict]:
        return sorted(self._tweets.values(), key=lambda t: int(t["id"]), reverse=True)

    @staticmethod
    def _fields(request: Request, name: str) -> set[str]:
        return {f for f in request.query.get(name, "").split(",") if f}

    @staticmethod
    def _render(tweet: dict, fields, *, wire: bool = False) -> dict:
        text = wire_text(tweet["text"]) if wire else tweet["text"]
        out = {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}
        for name in fields:
            if name == "created_at":
                out[name] = _iso(tweet[name])
            elif name in tweet:
                out[name] = copy.deepcopy(tweet[name])
        return out

    def _render_user(self, user: dict, fields: set[str]) -> dict:
        out = {"id": user["id"], "name": user["name"], "username": user["username"]}
        if "public_metrics" in fields:
            tweet_count = sum(t["author_id"] == user["id"] for t in self._tweets.values())
            out["public_metrics"] = {"followers_count": user["followers"], "following_count": 0,
                                     "tweet_count": tweet_count, "listed_count": 0, "like_count": 0}
        if "protected" in fields:
            out["protected"] = False
        if "verified" in fields:
            out["verified"] = False
        return out

    def _user_not_found(self, parameter: str, value: str) -> Reply:
        return 200, {}, {"errors": [{
            "value": value, "detail": f"Could not find user with {parameter}: [{value}].",
            "title": "Not Found Error", "resource_type": "user", "parameter": parameter, "resource_id": value,
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }]}

    def _timeline(self, request: Request, tweets: list[dict], min_results: int, token_param: str) -> Reply:
        """Filter, page (newest first) and expand a list of tweets as the v2 timeline/search endpoints do."""
        q = request.query
        max_results = q.get("max_results", "10")
        if not max_results.isdigit() or not min_results <= int(max_results) <= 100:
            return _invalid(f"The `max_results` query parameter value [{max_results}] is not between "
                            f"{min_results} and 100", max_results=max_results)
        token = q.get(token_param) or q.get("pagination_token")
        if token is not None and not re.fullmatch(r"[0-9a-z]+", token):
            return _invalid(f"The `{token_param}` query parameter value [{token}] is invalid", **{token_param: token})
        for name in ("since_id", "until_id"):
            if name in q and not q[name].isdigit():
                return _invalid(f"The `{name}` query parameter value [{q[name]}] is not valid", **{name: q[name]})
        start = _parse_time(q["start_time"]) if "start_time" in q else None
        end = _parse_time(q["end_time"]) if "end_time" in q else None
        picked = [
            t for t in tweets
            if ("since_id" not in q or int(t["id"]) > int(q["since_id"]))
            and ("until_id" not in q or int(t["id"]) < int(q["until_id"]))
            and (start is None or t["created_at"] >= start) and (end is None or t["created_at"] < end)
            and (token is None or int(t["id"]) <= int(token, 36))
        ]
        page, rest = picked[:int(max_results)], picked[int(max_results):]
        if not page:
            return 200, {}, {"meta": {"result_count": 0}}
        fields = self._fields(request, "tweet.fields") & set(_TWEET_FIELDS)
        body: dict[str, Any] = {"data": [self._render(t, fields, wire=True) for t in page]}
        expansions = self._fields(request, "expansions")
        user_ids = [t[k] for t in page for k in ("author_id", "in_reply_to_user_id") if k in expansions and k in t]
        users = [self._render_user(self._users[u], self._fields(request, "user.fields"))
                 for u in dict.fromkeys(user_ids) if u in self._users]
        referenced = [r["id"] for t in page for r in t.get("referenced_tweets", [])
                      if "referenced_tweets.id" in expansions and r["id"] in self._tweets]
        includes = {"users": users} if users else {}
        if referenced:
            includes["tweets"] = [self._render(self._tweets[i], fields, wire=True) for i in dict.fromkeys(referenced)]
        if includes:
            body["includes"] = includes
        body["meta"] = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if rest:
            body["meta"]["next_token"] = _base36(int(rest[0]["id"]))
        return 200, {}, body

    # -- routes ------------------------------------------------------------
    def _route_me(self, request: Request) -> Reply:
        return 200, {}, {"data": self._render_user(self._users[self.brand_id], self._fields(request, "user.fields"))}

    def _route_user(self, request: Request, id: str) -> Reply:
        if id not in self._users:
            return self._user_not_found("id", id)
        return 200, {}, {"data": self._render_user(self._users[id], self._fields(request, "user.fields"))}

    def _route_user_by_username(self, request: Request, username: str) -> Reply:
        user = next((u for u in self._users.values() if u["username"].lower() == username.lower()), None)
        if user is None:
            return self._user_not_found("username", username)
        return 200, {}, {"data": self._render_user(user, self._fields(request, "user.fields"))}

    def _route_mentions(self, request: Request, id: str) -> Reply:
        if id not in self._users:
            return self._user_not_found("id", id)
        handle = re.compile(rf"(?<!\w)@{re.escape(self._users[id]['username'])}(?!\w)", re.IGNORECASE)
        mentions = [t for t in self._sorted() if t["author_id"] != id and handle.search(t["text"])]
        return self._timeline(request, mentions, 5, "pagination_token")

    def _route_search(self, request: Request) -> Reply:
        query = request.query.get("query", "")
        matches = _matcher(query)
        operators = _OPERATORS.findall(query)
        if matches is None and not operators:
            return _invalid(f"Invalid query: [{query}]", query=query)
        tweets = [t for t in self._sorted() if (matches is None or matches(t["text"])) and all(self._operator(t, *o) for o in operators)]
        return self._timeline(request, tweets, 10, "next_token")

    def _operator(self, tweet: dict, name: str, value: str) -> bool:
        value = value.strip('"()')
        if name == "from":
            author = self._users.get(tweet["author_id"], {})
            return value.lower() in (author.get("username", "").lower(), tweet["author_id"])
        if name == "in_reply_to_tweet_id":
            return {"type": "replied_to", "id": value} in tweet.get("referenced_tweets", [])
        return tweet["conversation_id"] == value

    def _summoned(self, tweet: dict) -> bool:
        """X's 2026 rule for self-serve apps: reply only where the author mentioned or quoted the brand (or is it)."""
        if tweet["author_id"] == self.brand_id:
            return True
        if re.search(rf"(?<![\w@])@{re.escape(self.brand_username)}(?!\w)", tweet["text"], re.IGNORECASE):
            return True
        quoted = [r["id"] for r in tweet.get("referenced_tweets", []) if r["type"] == "quoted"]
        return any(self._tweets.get(q, {}).get("author_id") == self.brand_id for q in quoted)

    def _route_lookup(self, request: Request) -> Reply:
        """GET /2/tweets?ids=...: found posts in `data`, the rest as not-found errors, as X answers."""
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return _invalid("The `ids` query parameter value is not between 1 and 100 numeric ids", ids=",".join(ids))
        fields = self._fields(request, "tweet.fields") & set(_TWEET_FIELDS)
        found = [self._render(self._tweets[i], fields, wire=True) for i in ids if i in self._tweets]
        body: dict[str, Any] = {"data": found} if found else {}
        missing = [i for i in ids if i not in self._tweets]
        if missing:
            body["errors"] = [{"value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                               "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                               "type": "https://api.twitter.com/2/problems/resource-not-found"} for i in missing]
        return 200, {}, body

    def _app_may(self, needed: str) -> Reply | None:
        """X's answer when the app's permission does not cover a write (or a DM)."""
        if needed not in self.access_level:
            return 403, {}, _problem(403, "Your client app is not configured with the appropriate oauth1 app permissions "
                                          "for this endpoint.", type_="https://api.twitter.com/2/problems/oauth1-permissions")
        return None

    def _route_create_tweet(self, request: Request) -> Reply:
        if refused := self._app_may("write"):
            return refused
        body = request.parsed if isinstance(request.parsed, dict) else {}
        text = body.get("text") or ""
        if not text.strip():
            return _invalid("Either text or media is required", text=text)
        if weighted_length(text) > 280:
            return _invalid("Your Tweet text is too long. For more information on how Twitter determines text "
                            "length see https://github.com/twitter/twitter-text.", text=text)
        if any(t["author_id"] == self.brand_id and t["text"] == text for t in self._tweets.values()):
            return 403, {}, _problem(403, "You are not allowed to create a Tweet with duplicate content.")
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent is not None and str(parent) not in self._tweets:
            return 403, {}, _problem(403, "You attempted to reply to a Tweet that is deleted or not visible to you.")
        if parent is not None and not self._summoned(self._tweets[str(parent)]):
            return 403, {}, _problem(403, NOT_SUMMONED_DETAIL)
        tweet_id = self.add_tweet(text, self.brand_id, in_reply_to=str(parent) if parent else None)
        self._created.append(copy.deepcopy(body))
        return 201, {"Location": f"{API_HOST}/2/tweets/{tweet_id}"}, {
            "data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}

    def _route_delete_tweet(self, request: Request, id: str) -> Reply:
        tweet = self._tweets.get(id)
        if tweet is not None and tweet["author_id"] != self.brand_id:
            return 403, {}, _problem(403, "You are not authorized to delete this Tweet.")
        return 200, {}, {"data": {"deleted": self._tweets.pop(id, None) is not None}}

    def _route_dm(self, request: Request, id: str) -> Reply:
        if refused := self._app_may("directmessages"):
            return refused
        body = request.parsed if isinstance(request.parsed, dict) else {}
        if not (body.get("text") or body.get("attachments")):
            return _invalid("Either text or attachments is required", text=body.get("text", ""))
        user = self._users.get(id)
        if user is None:
            return _invalid(f"The `participant_id` [{id}] does not exist", participant_id=id)
        if not user["dms_open"]:
            return 403, {}, _problem(403, "You are not permitted to send a Direct Message to this user.")
        event = {"dm_conversation_id": f"{self.brand_id}-{id}",
                 "dm_event_id": str(_SNOWFLAKE_BASE + next(self._snowflakes))}
        self._dms.append({"participant_id": id, **copy.deepcopy(body), **event, "created_at": _iso(datetime.now(timezone.utc))})
        return 201, {}, {"data": event}

    def _route_dm_events(self, request: Request, id: str) -> Reply:
        """The brand's one-to-one conversation with a user, newest first (the messages the brand sent)."""
        if id not in self._users:
            return _invalid(f"The `participant_id` [{id}] does not exist", participant_id=id)
        events = [
            {"id": dm["dm_event_id"], "event_type": "MessageCreate", "text": dm.get("text", ""), "sender_id": self.brand_id,
             "dm_conversation_id": dm["dm_conversation_id"], "created_at": dm["created_at"]}
            for dm in reversed(self._dms) if dm["participant_id"] == id
        ]
        if not events:
            return 200, {}, {"meta": {"result_count": 0}}
        return 200, {}, {"data": events, "meta": {"result_count": len(events)}}
