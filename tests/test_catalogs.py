# Text in many languages and scripts, on purpose.
# ruff: noqa: RUF001
"""The shipped translation catalogs: complete, reviewed, placeholders intact, compiled.

The template is extracted afresh from the source (with the same command as
scripts/update-translations.sh), so a new string in a template or a view makes
these tests fail until every catalog translates it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from gettext import GNUTranslations, c2py
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from flask_urgentaction.i18n import shipped_languages

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TRANSLATIONS = ROOT / "src" / "flask_urgentaction" / "translations"
# Catalog directories, named as gettext names locales.
# fmt: off
SHIPPED = [
    "am", "ar", "bg", "bn", "bs", "cs", "da", "de", "el", "es", "fa", "fi",
    "fil", "fr", "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ka", "ko",
    "ms", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sq", "sr", "sr_Latn", "sv",
    "sw", "ta", "th", "tr", "uk", "ur", "vi", "zh_Hans", "zh_Hant", "zu",
]
# fmt: on
LANGS = sorted(
    p.name
    for p in SOURCE_TRANSLATIONS.iterdir()
    if (p / "LC_MESSAGES" / "urgentaction.po").exists()
)

# printf-style placeholders as Python's % operator reads them; "%%" is a literal.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def extract(output: Path) -> Catalog:
    """Run the project's own extraction into ``output`` and read it back."""
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "update-translations.sh"), "--extract-to", str(output)],
        check=True, capture_output=True, env={**os.environ, "PYBABEL": str(pybabel)},
    )  # fmt: skip
    with output.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return extract(tmp_path_factory.mktemp("extract") / "urgentaction.pot")


def read_catalog(lang: str) -> Catalog:
    with (SOURCE_TRANSLATIONS / lang / "LC_MESSAGES" / "urgentaction.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def placeholders(text: str) -> list[str]:
    """Named placeholders sorted (their order may change), positional ones in order."""
    found = [p for p in PLACEHOLDER.findall(text) if p != "%%"]
    named = sorted(p for p in found if p.startswith("%("))
    positional = [p for p in found if not p.startswith("%(")]
    return named + positional


def stray_percent(text: str) -> bool:
    """A "%" that is neither a placeholder nor "%%" breaks formatting at run time."""
    return "%" in PLACEHOLDER.sub("", text)


def problems(catalog: Catalog, template: Catalog) -> list[str]:
    """Everything that makes a catalog unfit to ship, one line each."""
    found = []
    if catalog.fuzzy:
        found.append("header: fuzzy (pybabel compile would skip the catalog)")
    for source in template:
        if not source.id:
            continue
        message = catalog.get(source.id)
        key = source.id[0] if isinstance(source.id, tuple) else source.id
        if message is None or message.id != source.id:
            found.append(f"missing: {key!r}")
            continue
        if message.fuzzy:
            found.append(f"fuzzy: {key!r}")
        if isinstance(source.id, tuple):
            forms = list(message.string) if isinstance(message.string, tuple) else []
            expected = placeholders(source.id[1])
            if len(forms) != catalog.num_plurals:
                found.append(f"plural forms: {key!r} has {len(forms)}, not {catalog.num_plurals}")
        else:
            forms = [str(message.string)]
            expected = placeholders(source.id)
        for form in forms:
            if not form.strip():
                found.append(f"empty: {key!r}")
            elif placeholders(form) != expected:
                found.append(f"placeholders: {key!r} -> {form!r}")
            elif expected and stray_percent(form):
                found.append(f"stray %: {key!r} -> {form!r}")
    return found


def test_the_extraction_finds_strings_in_python_and_in_templates(template: Catalog) -> None:
    ids = {m.id for m in template}
    assert "Skip to content" in ids  # _skip_link.html
    assert "Hello %(name)s," in ids  # mail/confirm.txt
    assert "Please choose a country from the list." in ids  # forms.py
    assert "Your name" in ids  # a lazy_gettext label
    assert ("%(num)s message sent", "%(num)s messages sent") in ids  # ngettext


def test_every_promised_language_ships_a_catalog() -> None:
    assert LANGS == SHIPPED
    # Directories name locales the way gettext does (sr_Latn); tags use hyphens (sr-Latn).
    assert shipped_languages() == sorted(["en", *(d.replace("_", "-") for d in SHIPPED)])


def test_the_checker_reports_each_kind_of_problem(template: Catalog) -> None:
    broken = Catalog(locale="de")
    for source in template:
        if source.id and not isinstance(source.id, tuple):
            broken.add(source.id, "x " + source.id)
    broken.delete("Skip to content")
    broken["Your name"].flags.add("fuzzy")
    broken["Hello %(name)s,"].string = "Hallo %(nom)s,"
    broken["Goal: %(goal)s"].string = "Ziel: %(goal)s (100 %)"
    broken["Subject"].string = " "
    found = problems(broken, template)
    assert "missing: 'Skip to content'" in found
    assert "missing: '%(num)s message sent'" in found
    assert "fuzzy: 'Your name'" in found
    assert "placeholders: 'Hello %(name)s,' -> 'Hallo %(nom)s,'" in found
    assert "stray %: 'Goal: %(goal)s' -> 'Ziel: %(goal)s (100 %)'" in found
    assert "empty: 'Subject'" in found


def test_placeholders_compare_names_and_types_but_not_the_order_of_names() -> None:
    assert placeholders("%(site)s aracılığıyla %(name)s") == placeholders("%(name)s via %(site)s")
    assert placeholders("%(max)s") != placeholders("%(max)d")
    assert placeholders("%s and %d") != placeholders("%d and %s")
    assert placeholders("100 %% sure") == []


@pytest.mark.parametrize("lang", SHIPPED)
def test_catalog_is_complete_reviewed_and_keeps_placeholders(lang: str, template: Catalog) -> None:
    assert problems(read_catalog(lang), template) == []


# Every integer up to 1,200 covers each residue mod 10 and mod 100; the rest
# reach the forms that CLDR gives to large round numbers (millions).
COUNTS = [*range(1201), 10_000, 100_000, 1_000_000, 2_000_000, 1_000_001, 10**9]


def plural_function(catalog: Catalog) -> Callable[[int], int]:
    """The catalog's own ``plural=`` expression, as gettext evaluates it at run time."""
    return c2py(catalog.plural_expr)


@pytest.mark.parametrize("lang", SHIPPED)
def test_catalog_picks_the_plural_form_babel_picks(lang: str) -> None:
    """The header selects the same form as the installed Babel's CLDR rule for every
    count: compared by evaluating both, so a reformatted expression still passes."""
    catalog = read_catalog(lang)
    babel = get_plural(lang)
    assert catalog.num_plurals == babel.num_plurals
    ours, theirs = plural_function(catalog), c2py(babel.plural_expr)
    wrong = [n for n in COUNTS if ours(n) != theirs(n)]
    assert wrong == [], f"{lang}: other plural form than CLDR for {wrong[:10]}"


def test_the_plural_check_tells_rules_apart() -> None:
    """Evaluating tells apart two Arabic rules that differ only past 10: an older
    table sent 11-99 to "other" and 100-102 to "many"; CLDR says the reverse."""
    old = c2py("n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100<=2 ? 4 : 5")
    cldr = c2py("n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5")
    assert [old(n) for n in range(11)] == [cldr(n) for n in range(11)]
    assert (old(11), old(100)) == (5, 4)
    assert (cldr(11), cldr(100)) == (4, 5)


def compiled_messages(translations: GNUTranslations) -> dict[Any, str]:
    """Every translation in a compiled catalog, without its header: the header holds
    the compiler's version stamp, which says nothing about the text a reader sees."""
    messages = dict(translations._catalog)  # type: ignore[attr-defined]
    messages.pop("", None)
    return messages


@pytest.mark.parametrize("lang", SHIPPED)
def test_shipped_mo_is_the_compiled_po(lang: str) -> None:
    """The .mo in the package is what compiling today's .po gives (not stale)."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(lang))
    buffer.seek(0)
    fresh = GNUTranslations(buffer)
    with (SOURCE_TRANSLATIONS / lang / "LC_MESSAGES" / "urgentaction.mo").open("rb") as handle:
        shipped = GNUTranslations(handle)
    assert compiled_messages(shipped) == compiled_messages(fresh)
    assert [shipped.plural(n) for n in COUNTS] == [fresh.plural(n) for n in COUNTS]


def test_shipped_template_matches_a_fresh_extraction(template: Catalog) -> None:
    with (SOURCE_TRANSLATIONS / "urgentaction.pot").open("rb") as handle:
        shipped = read_po(handle)
    assert sorted(str(m.id) for m in shipped if m.id) == sorted(str(m.id) for m in template if m.id)
