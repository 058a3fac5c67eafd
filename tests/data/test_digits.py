"""rnnlab.data.digits: the 1797 shipped digit images and their split."""

from rnnlab.data.digits import digit_split, load_digits


def test_digits_loaded_and_split():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() >= 0 and images.max() <= 1 and set(labels.tolist()) == set(range(10))
    train, val, test = digit_split(seed=0)
    assert len(set(train) & set(test)) == 0 and len(train) + len(val) + len(test) == 1797
