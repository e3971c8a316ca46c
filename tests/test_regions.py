"""Which body system a complaint's words point to (agent/regions.py)."""

from agent.knowledge import default_pack
from agent.planner import SYSTEM_EXAMS
from agent.regions import examinations, lexicon, system_votes


def best(text: str) -> str | None:
    votes = system_votes(text)
    return max(votes, key=lambda s: votes[s]) if votes else None


def test_complaints_point_to_their_system():
    assert best("a skin lesion on the chest that has grown") == "skin"
    assert best("My baby cries when I press on his tummy") == "gastrointestinal"
    assert best("pain and swelling in the right knee") == "musculoskeletal"
    assert best("I keep coughing and I'm short of breath") == "respiratory"
    assert best("double vision for a month") == "neurological"  # the phrase, not "vision"
    assert best("blurred vision in one eye") == "eye"
    assert best("I feel off") is None


def test_a_word_listed_twice_shares_its_vote_and_counts_once():
    shared = [p for p, systems in lexicon().items() if len(systems) > 1]
    assert all(abs(sum(lexicon()[p].values()) - 1) < 1e-9 for p in shared)
    assert system_votes("rash rash rash") == system_votes("rash")
    # "spinning" is not the spine: onset words are not anatomy by their stems.
    assert "musculoskeletal" not in system_votes("the room is spinning")


def test_every_system_with_an_examination_is_a_catalogue_system():
    systems = {f.system for f in default_pack().findings.values()}
    assert set(examinations()) <= systems
    assert SYSTEM_EXAMS == examinations()
