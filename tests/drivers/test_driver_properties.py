"""Properties of version comparison and id normalisation (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from techcare.tools.drivers import candidates, compare_versions, normalise_hardware_id
from techcare.tools.drivers.hwids import from_pci

parts = st.lists(st.integers(min_value=0, max_value=99999), min_size=1, max_size=4)
suffix = st.sampled_from(["", "-rc1", "-rc2", "-beta3", "-k", "-k2", "-amd64", "-generic", "+local", "a", "-dev"])
version = st.builds(lambda p, s: ".".join(map(str, p)) + s, parts, suffix)
hex4 = st.integers(min_value=0, max_value=0xFFFF).map(lambda n: f"{n:04x}")


@given(version, version)
def test_comparison_is_antisymmetric(a, b):
    ab, ba = compare_versions(a, b), compare_versions(b, a)
    assert (ab is None) == (ba is None)
    if ab is not None:
        assert ab == -ba


@given(version)
def test_a_version_equals_itself(a):
    assert compare_versions(a, a) == 0


@given(parts, parts)
def test_plain_numbers_compare_like_padded_tuples(a, b):
    if abs(len(a) - len(b)) >= 2:
        assert compare_versions(".".join(map(str, a)), ".".join(map(str, b))) is None
        return
    width = max(len(a), len(b))
    pa, pb = tuple(a) + (0,) * (width - len(a)), tuple(b) + (0,) * (width - len(b))
    assert compare_versions(".".join(map(str, a)), ".".join(map(str, b))) == (pa > pb) - (pa < pb)


@given(hex4, hex4, hex4, hex4, st.integers(min_value=0, max_value=255))
def test_pci_ids_normalise_idempotently_and_reduce_to_chip(ven, dev, sven, sdev, rev):
    hwid = from_pci(ven, dev, sven, sdev, f"{rev:02x}")
    assert normalise_hardware_id(hwid) == hwid
    assert normalise_hardware_id(hwid.lower()) == hwid
    forms = candidates(hwid)
    assert forms[0] == hwid and forms[-1] == f"PCI\\VEN_{ven.upper()}&DEV_{dev.upper()}"
    assert normalise_hardware_id(f"{ven}:{dev}") == forms[-1]
