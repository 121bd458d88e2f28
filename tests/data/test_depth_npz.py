"""Monodepth2 ``gt_depths.npz``: plain and object arrays read; a pickle naming any other global is refused."""

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vokit.data.depth_npz import read_gt_depths_npz
from vokit.errors import VokitError


def _maps() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(1, 80, size=(4, 6)).astype(np.float32), rng.uniform(1, 80, size=(5, 7)).astype(np.float32)]


def test_equal_sized_maps_are_a_plain_array(tmp_path: Path) -> None:
    maps = [_maps()[0], _maps()[0] * 2]
    np.savez_compressed(tmp_path / "gt_depths.npz", data=np.array(maps))  # as monodepth2 export_gt_depth.py
    got = read_gt_depths_npz(tmp_path / "gt_depths.npz")
    assert len(got) == 2 and got[0].dtype == np.float64
    np.testing.assert_array_equal(got[1], maps[1])


def test_mixed_sizes_are_an_object_array(tmp_path: Path) -> None:
    maps = _maps()
    data = np.empty(len(maps), dtype=object)  # what np.array(gt_depths) gave for the Eigen split (numpy < 1.24)
    data[:] = maps
    np.savez_compressed(tmp_path / "gt_depths.npz", data=data)
    got = read_gt_depths_npz(tmp_path / "gt_depths.npz")
    assert [g.shape for g in got] == [(4, 6), (5, 7)]
    for g, m in zip(got, maps, strict=True):
        np.testing.assert_array_equal(g, m)


class _Payload:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path("PWNED"),))


def _npz_with_pickle(path: Path, obj: object) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    pickle.dump(obj, buf, protocol=3)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.npy", buf.getvalue())


def test_a_pickle_naming_another_global_is_refused_and_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.chdir(tmp_path)
    _npz_with_pickle(tmp_path / "evil.npz", np.array([_Payload()], dtype=object))
    with pytest.raises(VokitError, match="refusing to load the global"):
        read_gt_depths_npz(tmp_path / "evil.npz")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: np.savez(p, other=np.zeros((1, 2, 2))), "no 'data' array"),
        (lambda p: p.write_bytes(b"not a zip"), "not a readable .npz"),
        (lambda p: np.savez(p, data=np.zeros((2, 2, 2, 2))), "expected \\(N, H, W\\)"),
        (lambda p: np.savez(p, data=np.full((1, 2, 2), np.nan)), "NaN"),
    ],
)
def test_bad_archives_name_the_file(tmp_path: Path, setup, match: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gt.npz"
    setup(path)
    with pytest.raises(VokitError, match=match) as err:
        read_gt_depths_npz(path)
    assert err.value.path == path
