"""Write tests/data/incident_set.jsonl: a labelled stream of posts for measuring incident grouping.

Three crises (a checkout outage, a login outage, a broken promo code) happen inside
two hours of normal traffic; each post says which crisis it is about ("topic") or
"none", and whether it is a safety or legal complaint (which must never join an
incident silently). Each post also carries the category a person would file it under. Templates are combined at random with a fixed seed, so the file
is reproducible: `python tests/data/make_incident_set.py`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 17
OUT = Path(__file__).with_name("incident_set.jsonl")

CRISES = {
    "checkout": {
        "start": 1800, "length": 1500, "posts": 700,
        "templates": [
            "@acme checkout is broken", "checkout broken again @acme", "@acme can't pay, error 500",
            "is the site down?? @acme", "@acme your site is down, can't check out", "@acme checkout keeps failing with error 500",
            "@acme payment page just spins forever", "@acme stuck at checkout for {n} minutes", "@acme error 500 when I try to pay",
            "@acme can't complete my purchase, checkout error", "@acme is checkout down for everyone?", "@acme site down at checkout, fix it",
            "@acme tried to pay {n} times, checkout just errors", "@acme checkout page won't load", "@acme your payment page is down",
            "trying to buy a {item} and @acme checkout is broken", "@acme checkout error 500 on the {item}, what's going on",
            "@acme basket won't check out, keeps erroring", "@acme can't pay for my {item}, site says error",
            "anyone else getting error 500 at @acme checkout?", "@acme site down? checkout not working",
        ],
    },
    "login": {
        "start": 4200, "length": 1200, "posts": 450,
        "templates": [
            "@acme can't log in to the app", "@acme app login keeps failing", "@acme login broken, says invalid session",
            "@acme the app logs me out every time", "@acme can't sign in, keeps saying session expired",
            "@acme is login down? app won't let me in", "@acme signed out and can't log back in",
            "@acme app says invalid session when I log in", "@acme login page stuck loading in the app",
            "@acme can't get into my account on the app, login fails", "@acme session expired error every time I log in",
            "@acme app login down for anyone else?", "@acme login not working on android", "@acme login not working on iphone",
        ],
    },
    "promo": {
        "start": 6000, "length": 900, "posts": 250,
        "templates": [
            "@acme promo code SAVE20 doesn't work", "@acme your code SAVE20 says invalid", "@acme discount code not working at all",
            "@acme SAVE20 code rejected, what's the point of the email", "@acme promo code invalid, advertised everywhere",
            "@acme the discount code from your email doesn't apply", "@acme SAVE20 not applying to my {item}",
            "@acme discount code expired already? it says valid till sunday", "@acme promo code gives an error",
        ],
    },
}

NORMAL = [  # (category a person would file it under, template)
    ("complaint", "@acme my order {n} never arrived"), ("complaint", "@acme where is my parcel? tracking hasn't moved in {n} days"),
    ("complaint", "@acme the {item} arrived damaged"), ("complaint", "@acme still waiting for my refund for the {item}"),
    ("question", "@acme do you ship to ireland?"), ("question", "@acme what time does the leeds store open?"),
    ("praise", "@acme love my new {item}, thanks!"), ("praise", "@acme great service today, thank you"),
    ("complaint", "@acme the {item} stopped working after a week"), ("question", "@acme how do I change my delivery address?"),
    ("complaint", "@acme charged twice for the same order"), ("complaint", "@acme courier left my parcel in the rain"),
    ("question", "@acme is the {item} back in stock?"), ("praise", "@acme your staff in manchester were brilliant"),
    ("complaint", "@acme the {item} is smaller than in the photos"), ("question", "@acme cancel my order {n} please"),
    ("complaint", "@acme my {item} came with a missing part"), ("question", "@acme how long do refunds take?"),
    ("complaint", "@acme wrong colour {item} delivered"), ("question", "@acme when does the sale end?"),
    ("praise", "@acme your app is great, easy to use"), ("complaint", "@acme delivery was late again"),
    ("complaint", "@acme the {item} battery dies in an hour"), ("question", "@acme can I return a gift without a receipt?"),
    ("praise", "@acme my password reset email went to spam, found it now"),
    ("question", "@acme changed my email address, how do I update it?"),
]
# Must never join an incident, even when they mention its topic.
URGENT = [
    ("safety", "@acme the {item} charger caught fire and burned my hand"),
    ("safety", "@acme your {item} is dangerous, it overheated and started smoking"),
    ("safety", "@acme my son had an allergic reaction to the {item}, we're in hospital"),
    ("legal", "@acme checkout took my money twice, my lawyer will be in touch"),
    ("legal", "@acme site down and you charged me anyway, I'm taking you to small claims court"),
    ("legal", "@acme I will sue if my refund isn't here this week"),
    ("safety", "@acme can't log in and your {item} exploded on the table, this is unsafe"),
    ("legal", "@acme promo code invalid is false advertising, reporting you to trading standards"),
]
ITEMS = ["kettle", "headphones", "jacket", "blender", "phone case", "lamp", "backpack", "trainers", "toaster", "speaker"]
NETWORKS = ["x"] * 4 + ["facebook"]


def _fill(rng: random.Random, template: str) -> str:
    text = template.format(n=rng.randint(2, 45), item=rng.choice(ITEMS))
    if rng.random() < 0.15:
        text += rng.choice(["!!", " 😡", " seriously", " #fail", " ffs", " help", " ?"])
    if rng.random() < 0.1:
        text = text.replace("@acme ", "").capitalize() + " @acme"
    return text


def build() -> list[dict]:
    rng = random.Random(SEED)
    rows = []
    for _ in range(900):  # normal traffic: two hours, about one every eight seconds
        category, template = rng.choice(NORMAL)
        rows.append({"at": rng.uniform(0, 7200), "topic": "none", "urgent": None, "category": category, "text": _fill(rng, template)})
    for _ in range(60):
        kind, template = rng.choice(URGENT)
        rows.append({"at": rng.uniform(0, 7200), "topic": "none", "urgent": kind, "category": "complaint", "text": _fill(rng, template)})
    for name, crisis in CRISES.items():
        for _ in range(crisis["posts"]):
            # a crisis ramps up fast and tails off: most posts in its first third
            at = crisis["start"] + crisis["length"] * rng.betavariate(1.3, 3.0)
            rows.append({"at": at, "topic": name, "urgent": None, "category": "complaint", "text": _fill(rng, rng.choice(crisis["templates"]))})
    rows.sort(key=lambda r: r["at"])
    for i, row in enumerate(rows):
        row["id"] = i + 1
        row["at"] = round(row["at"], 2)
        row["network"] = rng.choice(NETWORKS)
        row["author"] = f"user{rng.randint(1, 2500)}"
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote {len(rows)} posts to {OUT}")
