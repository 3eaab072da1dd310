"""The loader on the real file: the course's definitions exactly, disjoint splits, bad files."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tuner.errors import TunerError
from tuner.training import data

# From shared/data/README.md: sha256 of array.tobytes().
X_TRAIN_SHA = "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"
Y_TEST_SHA = "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"


def test_local_file_matches_published_checksums(mnist_path):
    raw = data.load_mnist(mnist_path)
    assert hashlib.sha256(raw.x_train.tobytes()).hexdigest() == X_TRAIN_SHA
    assert hashlib.sha256(raw.y_test.tobytes()).hexdigest() == Y_TEST_SHA


def test_env_variable_is_used(mnist_path, monkeypatch):
    monkeypatch.setenv("TUNER_DATA", mnist_path)
    assert data.resolve_data_path(None) == mnist_path
    assert data.resolve_data_path("/other.npz") == "/other.npz"


def test_capstone_split_is_the_course_definition(mnist_path):
    raw = data.load_mnist(mnist_path)
    train, test = data.capstone_train(raw), data.capstone_test(raw)
    assert train.x.shape == (6000, 784) and test.x.shape == (10000, 784)
    assert train.x.dtype == np.float32 and train.x.max() == 255.0  # raw pixels, no scaling
    np.testing.assert_array_equal(train.x, raw.x_train.reshape(60000, 784)[:6000])
    np.testing.assert_array_equal(test.x, raw.x_test.reshape(10000, 784)[:10000])
    assert train.y.shape == (6000, 10) and (train.y.sum(axis=1) == 1).all()
    assert list(train.y[:10].argmax(axis=1)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_validation_split_is_disjoint_and_digest_tracks_content(mnist_path):
    search = data.load_search_data(mnist_path, train_rows=6000, validation_rows=(6000, 16000))
    raw = data.load_mnist(mnist_path)
    np.testing.assert_array_equal(search.validation.x, raw.x_train.reshape(60000, 784)[6000:16000])
    assert len(search.digest) == 64
    other = data.load_search_data(mnist_path, train_rows=6000, validation_rows=(6000, 15000))
    assert other.digest != search.digest


def test_test_rows_only_when_asked(mnist_path):
    raw = data.load_mnist(mnist_path)
    course = data.load_search_data(
        mnist_path,
        train_rows=1500,
        validation_rows=(6000, 16000),
        evaluate_on="test",
        test_rows=6000,
    )
    assert course.evaluated_on == "test" and course.train.x.shape == (1500, 784)
    np.testing.assert_array_equal(course.validation.x, raw.x_test.reshape(10000, 784)[:6000])
    search = data.load_search_data(mnist_path, train_rows=1500, validation_rows=(6000, 12000))
    assert search.evaluated_on == "validation"
    np.testing.assert_array_equal(search.validation.x, raw.x_train.reshape(60000, 784)[6000:12000])
    assert search.digest != course.digest


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"not a zip", "not a readable .npz"),
        ({"x_train": np.zeros((5, 28, 28), np.uint8)}, "has no array 'y_train'"),
    ],
)
def test_bad_files_fail_clearly(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(TunerError, match=message):
        data.load_mnist(str(path))
