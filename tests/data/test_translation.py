"""rnnlab.data.translation: the English-French pairs normalised, filtered and split."""

from rnnlab.data.translation import detokenize, load_pairs, normalise, split_pairs, tokens


def test_translation_pairs_normalised_filtered_and_split():
    assert normalise("Va\u202f! Oui\u00a0?  L’homme") == "va ! oui ? l'homme"
    assert tokens("J’ai faim\u202f!") == ["j'", "ai", "faim", "!"]
    assert detokenize(["j'", "ai", "faim", ",", "oui", "."]) == "j'ai faim, oui."
    pairs = load_pairs()
    assert 11_000 < len(pairs) < 12_500 and len(set(pairs)) == len(pairs)
    assert all(e.count(" ") < 10 and f.count(" ") < 10 for e, f in pairs)
    assert all("\u202f" not in f and "\xa0" not in f for _, f in pairs)
    random_split = split_pairs(pairs, seed=0)
    assert random_split == split_pairs(pairs, seed=0) and sum(map(len, random_split)) == len(pairs)
    train, _, test = split_pairs(pairs, seed=0, disjoint_english=True)
    seen = {e for e, _ in train}
    assert test and not any(e in seen for e, _ in test)
    train, _, test = random_split
    seen = {e for e, _ in train}
    assert sum(e in seen for e, _ in test) > len(test) // 3  # why the disjoint split matters
