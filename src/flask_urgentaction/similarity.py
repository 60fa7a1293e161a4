"""What supporters wrote themselves, and which of their texts are copies of each other.

Thousands of identical messages look like bulk mail to the targets' mail
systems, so supporters are invited to add a line of their own and to edit the
message. For the organiser this module tells how many did
(:func:`personal_share`), and which supporter-written texts are near copies of
each other (:func:`near_duplicate_groups`): the same wording sent by many, often
a sign of a script filling the form. It only reports; nothing is refused or held
because of it.

Near copies are found in time and memory about linear in the number of actions:

- each text is reduced to what the supporter added (:func:`added_text`), then
  normalised: case-folded, punctuation, symbols and digits dropped, spaces
  collapsed, so "Reinstate them NOW!" and "reinstate them now" are the same;
- its features are its words and pairs of neighbouring words, less those of the
  campaign's own message (shared by everyone, they say nothing);
- a MinHash signature of 32 numbers estimates the share of features two texts
  have in common; rows are read in batches and only the signatures are kept,
  128 bytes an action;
- signatures are cut into bands: texts are compared only with texts that agree
  on a whole band, and linked when they share at least :data:`THRESHOLD` of
  their features by the estimate. Texts so linked form a group.

A SimHash over the same features was the other candidate; but a single word
changed in a line of twenty moves a 64-bit SimHash by 8 bits (the median), far
beyond the small distance its bands can look for without comparing nearly every
pair. MinHash bands find such a copy with near certainty.

Texts of fewer than :data:`MIN_WORDS` words, or that add fewer than
:data:`MIN_FEATURES` features of their own, are left out: short lines like
"Solidarity!" are alike by nature, not by a script. So are scripts written
without spaces between words (Chinese, Japanese, Thai), whose lines read as a
few long words: only their exact copies can be found, and only when long enough.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from hashlib import shake_128
from itertools import pairwise

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from . import tallies
from .campaigns import message_text
from .models import Action, Campaign

# Texts shorter than this, once normalised, are not compared.
MIN_WORDS = 6
# Nor texts that add fewer features than this to the campaign's message.
MIN_FEATURES = 6
# Signature length, and its cut into bands of BAND_ROWS numbers.
SLOTS = 32
BAND_ROWS = 2
# Two texts are near copies when they share at least this share of features.
THRESHOLD = 0.6
# Texts one band bucket keeps to compare newcomers with: a bound on the work
# when very many unlike texts happen to agree on a band.
MAX_LEADERS = 32
# Rows read from the database at a time.
BATCH = 1000

# Only the first words of a long text count (copies share their beginning).
MAX_WORDS = 200

# A feature's values in all slots packed in one int, a slot in 32 bits: a value
# in the low 31, and a guard bit above it, always 0 in a value, that lets a few
# operations on the whole int compare every slot at once (SWAR).
_WIDTH = SLOTS * 4
_BITS = _WIDTH * 8
_MASK = (1 << _BITS) - 1
_ONES = sum(1 << (32 * slot) for slot in range(SLOTS))
_GUARDS = _ONES << 31
_VALUES = _MASK ^ _GUARDS
_ROTATION = 13
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Group:
    """Actions whose supporter-written texts are near copies of each other."""

    action_ids: tuple[int, ...]
    # What the first of them wrote (see added_text), to show the organiser.
    sample: str
    size: int


def same_words(text: str) -> str:
    """``text`` with every run of white space, line breaks included, as one space."""
    return _SPACES.sub(" ", text).strip()


def edited(message: str, default: str) -> bool:
    """Whether the supporter changed the campaign's message.

    White space does not count: a textarea's CRLF line ends, or spaces left at
    the end of a line, are not an edit.
    """
    return same_words(message) != same_words(default)


def added_text(message: str, default: str, personal: str = "") -> str:
    """What the supporter wrote themselves: the personal line, then each line of the
    message that is not a line of the default message (white space aside)."""
    known = {same_words(line) for line in default.splitlines()}
    lines = [same_words(personal)]
    lines += [same_words(line) for line in message.splitlines()]
    kept = [line for line in lines if line and line not in known]
    return "\n".join(dict.fromkeys(kept))


class _Folding(dict[int, int]):
    """For str.translate: letters and marks stay, anything else becomes a space.

    Marks stay because they are part of words in many scripts (Arabic vowels,
    the vowel signs of Indic scripts). Each character is looked up once.
    """

    def __missing__(self, code: int) -> int:
        kept = unicodedata.category(chr(code))[0] in "LM"
        self[code] = value = code if kept else 0x20
        return value


_FOLDING = _Folding()


def normalise(text: str) -> str:
    """``text`` case-folded, without punctuation, symbols or digits, one space between words."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_FOLDING).split())


@lru_cache(maxsize=1 << 14)
def _word(word: str) -> int:
    """A word's values in every slot: SLOTS random 31-bit numbers, packed."""
    digest = shake_128(word.encode("utf-8", "surrogatepass")).digest(_WIDTH)
    return int.from_bytes(digest, "little") & _VALUES


def _features(words: list[str]) -> set[int]:
    """A text's words and pairs of neighbouring words, as packed values.

    A pair's values are its first word's XOR its second word's rotated by a few
    bits: as random as a hash of the pair, for a fraction of the cost.
    """
    single = [_word(word) for word in words[:MAX_WORDS]]
    rotate, back = _ROTATION, _BITS - _ROTATION
    pairs = (a ^ (((b << rotate) | (b >> back)) & _VALUES) for a, b in pairwise(single))
    return {*single, *pairs}


def _signature(features: set[int]) -> bytes:
    """The MinHash signature: in each slot, the smallest value of any feature."""
    least = _VALUES
    for value in features:
        # Slot by slot, whether the least so far is at or above value: the
        # guard bit survives the subtraction exactly then.
        above = ((least | _GUARDS) - value) & _GUARDS
        least ^= (least ^ value) & (above - (above >> 31))
    return least.to_bytes(_WIDTH, "little")


def _shared(a: bytes, b: bytes) -> int:
    """In how many slots two signatures agree."""
    differ = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    # A slot's guard bit survives taking 1 away exactly when the slot is not 0.
    return SLOTS - (((differ | _GUARDS) - _ONES) & _GUARDS).bit_count()


def _kept(campaign_id: int) -> tuple[ColumnElement[bool], ...]:
    """The campaign's actions, less the erased ones (they no longer stand for anyone)."""
    return (Action.campaign_id == campaign_id, *tallies.KEPT)


def _rows(session: Session, campaign_id: int) -> Iterator[tuple[int, str, str, str]]:
    """(id, lang, message, personal) of the kept actions whose supporter wrote
    something, read in batches (a server-side cursor on PostgreSQL)."""
    query = (
        select(Action.id, Action.lang, Action.message, Action.personal)
        .where(*_kept(campaign_id), or_(Action.personal != "", Action.edited))
        .order_by(Action.id)
        .execution_options(yield_per=BATCH)
    )
    for action_id, lang, message, personal in session.execute(query):
        yield int(action_id), lang, message, personal


def personal_share(session: Session, campaign_id: int) -> tuple[int, int]:
    """(actions with a personal line or an edited message, all actions) of a campaign,
    erased actions left out of both (from the stored tallies, tallies.py)."""
    found = tallies.shares(session, campaign_id)
    return found["either"], found["kept"]


class _Sets:
    """Union-find over the positions of the kept texts."""

    def __init__(self, count: int) -> None:
        self.parent = list(range(count))

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def join(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def near_duplicate_groups(session: Session, campaign_id: int, min_size: int = 3) -> list[Group]:
    """Groups of at least ``min_size`` actions of a campaign whose supporter-written
    texts are near copies of each other, largest first; erased actions left out."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return []
    defaults: dict[str, tuple[str, set[int]]] = {}
    ids = array("q")
    signatures = bytearray()
    for action_id, lang, message, personal in _rows(session, campaign_id):
        if lang not in defaults:
            default = message_text(campaign, lang).message
            defaults[lang] = (default, _features(normalise(default).split()))
        default, common = defaults[lang]
        signature = _text_signature(added_text(message, default, personal), common)
        if signature is not None:
            ids.append(action_id)
            signatures += signature
    sets = _link(signatures)
    members: dict[int, list[int]] = {}
    for position, action_id in enumerate(ids):
        members.setdefault(sets.find(position), []).append(action_id)
    found = sorted(
        (sorted(group) for group in members.values() if len(group) >= min_size),
        key=lambda group: (-len(group), group[0]),
    )
    samples = _samples(session, campaign_id, [group[0] for group in found], defaults)
    return [Group(tuple(group), samples.get(group[0], ""), len(group)) for group in found]


def _text_signature(text: str, common: set[int]) -> bytes | None:
    """The signature of a supporter's text, less the features of the campaign's
    message; None when too little of it is their own to tell."""
    words = normalise(text).split()
    if len(words) < MIN_WORDS:
        return None
    features = _features(words) - common
    if len(features) < MIN_FEATURES:
        return None
    return _signature(features)


def _link(signatures: bytes | bytearray) -> _Sets:
    """Join the texts whose signatures agree on a whole band and share at least
    THRESHOLD of their slots; ``signatures`` holds one after the other."""
    count = len(signatures) // _WIDTH
    sets = _Sets(count)

    def signature(position: int) -> bytes:
        return bytes(signatures[position * _WIDTH : (position + 1) * _WIDTH])

    least = THRESHOLD * SLOTS
    for band in range(0, _WIDTH, BAND_ROWS * 4):
        # A band's value -> the texts newcomers with that value are compared with:
        # one position, or a list once there are several.
        buckets: dict[int, int | list[int]] = {}
        for position in range(count):
            start = position * _WIDTH + band
            key = int.from_bytes(signatures[start : start + BAND_ROWS * 4], "little")
            found = buckets.setdefault(key, position)
            if found == position:
                continue
            leaders = [found] if isinstance(found, int) else found
            root = sets.find(position)
            if any(sets.find(leader) == root for leader in leaders):
                continue
            mine = signature(position)
            match = next((x for x in leaders if _shared(signature(x), mine) >= least), None)
            if match is not None:
                sets.join(match, position)
            elif len(leaders) < MAX_LEADERS:
                leaders.append(position)
                buckets[key] = leaders
    return sets


def _samples(
    session: Session, campaign_id: int, ids: list[int], defaults: dict[str, tuple[str, set[int]]]
) -> dict[int, str]:
    """What the supporters of the given actions wrote themselves, by action id."""
    samples: dict[int, str] = {}
    for start in range(0, len(ids), BATCH):
        query = select(Action.id, Action.lang, Action.message, Action.personal).where(
            Action.campaign_id == campaign_id, Action.id.in_(ids[start : start + BATCH])
        )
        for action_id, lang, message, personal in session.execute(query):
            default = defaults[lang][0] if lang in defaults else ""
            samples[int(action_id)] = added_text(message, default, personal)
    return samples
