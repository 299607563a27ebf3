"""Callers' pseudonyms: determinism, spread, word-list hygiene and French agreement."""

import re
import secrets

import pytest

from core.privacy.pseudonyms import (
    ADJECTIVE_COUNT,
    ANIMAL_COUNT,
    ATTEMPTS_PER_ROUND,
    LANGUAGES,
    LEXICONS,
    Slot,
    draw,
    pseudonym,
)

# Words that must never be part of a pseudonym: insults and slurs, animals with offensive
# connotations, and words about bodies, weight, health, death, race or religion.
DENIED = """
    rat rats pig hog swine snake serpent viper worm vulture cow donkey ass mule leech cockroach
    louse lice slug toad skunk weasel hyena monkey ape gorilla chimp chimpanzee baboon goose
    turkey chicken hen cuckoo crow magpie shark crab octopus sloth lemming badger beaver cougar
    vixen bitch dog cat pussy mole raccoon coon bat spider tick flea fly mosquito maggot
    whale hippo elephant walrus seal buffalo bull ox camel dodo mammoth dinosaur
    fat thin skinny slim big little tiny giant small tall short heavy ugly pretty beautiful
    naked hairy bald blind deaf lame weak sick ill ailing pale wounded broken
    dead death dying die killer kill deadly grave ghost mortal
    mad crazy insane loony loon mental nervous anxious sad lonely lost hopeless empty
    stupid dumb idiot silly fool foolish slow lazy dirty filthy greedy
    black white brown red yellow
    holy sacred saint angel devil demon divine blessed cardinal bishop monk lama
    rat porc cochon truie serpent vipère ver vautour vache âne ânesse sangsue cafard blatte
    pou poux limace crapaud mouffette putois hyène singe gorille chimpanzé babouin oie dinde
    poule poulet coq coucou corbeau pie requin crabe pieuvre paresseux blaireau castor
    chienne chien chatte chat taupe raton chameau baleine hippopotame morse bouc chèvre bique
    grue bécasse buse morue thon moule huître pintade pigeon linotte autruche caméléon
    faisan zèbre manchot martinet
    gros grosse maigre petit petite grand grande laid laide moche nu nue chauve aveugle
    sourd sourde boiteux faible malade pâle blessé blessée
    mort morte mortel mortelle tueur tueuse fantôme
    fou folle dingue cinglé cinglée triste seul seule perdu perdue vide
    bête idiot idiote stupide sot sotte lent lente paresseuse sale avide
    noir noire blanc blanche brun brune rouge jaune
    saint sainte sacré sacrée ange diable démon divin divine béni bénie
"""
DENYLIST = frozenset(DENIED.split())


def words(language: str) -> list[str]:
    lexicon = LEXICONS[language]
    texts = [a.name for a in lexicon.animals]
    texts += [form for a in lexicon.adjectives for form in (a.masculine, a.feminine)]
    return [w.lower() for text in texts for w in re.split(r"[\s-]+", text)]


def test_languages_and_sizes() -> None:
    assert LANGUAGES == ("en", "fr")
    assert ADJECTIVE_COUNT >= 60
    assert ANIMAL_COUNT >= 60
    for lexicon in LEXICONS.values():
        assert len(lexicon.adjectives) == ADJECTIVE_COUNT
        assert len(lexicon.animals) == ANIMAL_COUNT


@pytest.mark.parametrize("language", ["en", "fr"])
def test_no_word_is_on_the_denylist(language: str) -> None:
    assert sorted(set(words(language)) & DENYLIST) == []


@pytest.mark.parametrize("language", ["en", "fr"])
def test_words_are_distinct_and_capitalised(language: str) -> None:
    lexicon = LEXICONS[language]
    animals = [a.name for a in lexicon.animals]
    adjectives = [a.masculine for a in lexicon.adjectives]
    for group in (animals, adjectives):
        assert len(set(group)) == len(group)
    for word in (*animals, *(f for a in lexicon.adjectives for f in (a.masculine, a.feminine))):
        assert word == word.strip()
        assert word[0].isupper()
        assert re.fullmatch(r"[^\W\d_]+([ -][^\W\d_]+)*", word), word


def test_french_adjectives_have_agreeing_forms() -> None:
    for adjective in LEXICONS["fr"].adjectives:
        # A feminine form either ends in "e" or is an invariable colour noun ("Azur").
        assert adjective.feminine.endswith("e") or adjective.feminine == adjective.masculine
    assert {a.gender for a in LEXICONS["fr"].animals} == {"m", "f"}
    assert {a.gender for a in LEXICONS["en"].animals} == {None}


def test_every_combination_is_well_formed() -> None:
    en, fr = LEXICONS["en"], LEXICONS["fr"]
    for i, adjective in enumerate(fr.adjectives):
        for j, animal in enumerate(fr.animals):
            slot = Slot(i, j, 0)
            form = adjective.feminine if animal.gender == "f" else adjective.masculine
            assert slot.name("fr") == f"{animal.name} {form}"
            assert slot.name("en") == f"{en.adjectives[i].masculine} {en.animals[j].name}"


def test_the_same_concept_in_both_languages() -> None:
    assert Slot(0, 0, 0).name("en") == "Brave Otter"
    assert Slot(0, 0, 0).name("fr") == "Loutre Courageuse"
    assert Slot(0, 1, 0).name("fr") == "Renard Courageux"
    assert Slot(0, 1, 2).name("en") == "Brave Fox 3"


def test_pseudonym_is_deterministic() -> None:
    seed = bytes.fromhex("5f" * 32)
    assert pseudonym(seed, "en") == pseudonym(seed, "en", 0)
    assert [pseudonym(seed, "fr", a) for a in range(10)] == [
        pseudonym(bytes(seed), "fr", a) for a in range(10)
    ]
    for attempt in range(5):
        assert pseudonym(seed, "en", attempt) == draw(seed, attempt).name("en")
        assert draw(seed, attempt) == draw(seed, attempt)


def test_attempts_and_seeds_spread_over_the_words() -> None:
    seed = secrets.token_bytes(32)
    assert len({draw(seed, a).id for a in range(ATTEMPTS_PER_ROUND)}) >= ATTEMPTS_PER_ROUND - 2
    slots = {draw(secrets.token_bytes(32)) for _ in range(2000)}
    # 2000 draws over ~8400 combinations: ~1770 distinct expected if uniform.
    assert len(slots) > 1650
    assert len({s.adjective for s in slots}) == ADJECTIVE_COUNT
    assert len({s.animal for s in slots}) == ANIMAL_COUNT


def test_later_rounds_are_numbered() -> None:
    seed = secrets.token_bytes(32)
    assert not pseudonym(seed, "en", ATTEMPTS_PER_ROUND - 1)[-1].isdigit()
    assert pseudonym(seed, "en", ATTEMPTS_PER_ROUND).endswith(" 2")
    assert pseudonym(seed, "fr", 3 * ATTEMPTS_PER_ROUND + 1).endswith(" 4")
    assert draw(seed, ATTEMPTS_PER_ROUND).id.endswith(".1")


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="'de'"):
        pseudonym(b"seed", "de")
